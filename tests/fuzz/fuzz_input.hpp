// Reading a fuzz input as choices and data: a few leading bytes pick options and split
// points, the rest is the data under test. Every read is defined on any input (missing bytes
// read as zero), so a short input is just another input.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lithe::fuzz {

class FuzzInput {
public:
  FuzzInput(const std::uint8_t* data, std::size_t size) noexcept
      : data_(reinterpret_cast<const char*>(data)), size_(size) {}

  std::uint8_t byte() noexcept { return at_ < size_ ? static_cast<std::uint8_t>(data_[at_++]) : 0; }
  std::uint16_t u16() noexcept {
    std::uint16_t lo = byte();
    return static_cast<std::uint16_t>(lo | byte() << 8);
  }
  /// The next `n` bytes (fewer at the end).
  std::string_view take(std::size_t n) noexcept {
    n = std::min(n, left());
    std::string_view s(data_ + at_, n);
    at_ += n;
    return s;
  }
  /// Up to the next `sep` (consumed, not returned), or the rest.
  std::string_view take_until(char sep) noexcept {
    std::string_view rest(data_ + at_, left());
    std::size_t end = rest.find(sep);
    if (end == std::string_view::npos) return take(left());
    at_ += end + 1;
    return rest.substr(0, end);
  }
  std::string_view rest() noexcept { return take(left()); }
  std::size_t left() const noexcept { return size_ - at_; }

private:
  const char* data_;
  std::size_t size_;
  std::size_t at_ = 0;
};

/// `s` without the bytes a request header's value cannot hold (CR, LF, NUL): what a MockRequest
/// header may be given.
inline std::string header_value(std::string_view s) {
  std::string out;
  for (char c : s)
    if (c != '\r' && c != '\n' && c != '\0') out += c;
  return out;
}

/// Cuts `data` into pieces at the offsets chosen by `cuts` (taken modulo the length), in
/// order, so the same bytes arrive split anywhere. Empty pieces are dropped.
inline std::vector<std::string_view> split(std::string_view data, std::vector<std::size_t> cuts) {
  for (std::size_t& c : cuts)
    c %= data.size() + 1;
  std::sort(cuts.begin(), cuts.end());
  std::vector<std::string_view> pieces;
  std::size_t from = 0;
  for (std::size_t c : cuts) {
    if (c > from) pieces.push_back(data.substr(from, c - from));
    from = std::max(from, c);
  }
  if (from < data.size()) pieces.push_back(data.substr(from));
  return pieces;
}

/// `n` cut offsets read as 16-bit values.
inline std::vector<std::size_t> read_cuts(FuzzInput& in, std::size_t n) {
  std::vector<std::size_t> cuts(n);
  for (std::size_t& c : cuts)
    c = in.u16();
  return cuts;
}

} // namespace lithe::fuzz
