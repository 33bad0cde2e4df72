// Fuzzes the Range header parser (middleware/include/lithe/mw/byte_ranges.hpp, RFC 9110
// §14.1.2) against representation sizes from the input, and checks what Static relies on:
// every range lies in the representation, none overlaps or touches another, there are at most
// max_ranges of them, and together they are no longer than the representation.
#include "fuzz_input.hpp"

#include <lithe/mw/byte_ranges.hpp>

#include <algorithm>
#include <vector>

// Input: a size (8 bytes, or small sizes from one byte), limits, then the header value.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  lithe::fuzz::FuzzInput in(data, size);
  std::uint8_t choice = in.byte();
  std::uint64_t length = 0;
  if (choice & 1) {
    for (int i = 0; i < 8; ++i)
      length = length << 8 | in.byte();
  } else {
    length = in.byte();
  }
  lithe::mw::RangeLimits limits;
  if (choice & 2) limits = {.max_ranges = in.byte() % 20u, .max_specs = 1u + in.byte() % 80u};
  auto ranges = lithe::mw::parse_byte_ranges(in.rest(), length, limits);
  if (!ranges) return 0;
  if (ranges->size() > limits.max_ranges) __builtin_trap();
  std::uint64_t total = 0;
  std::vector<lithe::mw::ByteRange> sorted = *ranges;
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    const auto& r = sorted[i];
    if (r.first > r.last || r.last >= length) __builtin_trap();
    if (i > 0 && sorted[i - 1].last + 1 >= r.first) __builtin_trap(); // coalesced
    total += r.length();
  }
  if (total > length) __builtin_trap();
  return 0;
}
