// Byte ranges: one pass over the header that stops after RangeLimits::max_specs specs, then a
// sort by offset to coalesce and a sort back to the header's order (RFC 9110 §14.1.2, §14.6).
#include <lithe/mw/byte_ranges.hpp>

#include <lithe/str.hpp>

#include <algorithm>
#include <limits>

namespace lithe::mw {

namespace {

constexpr std::uint64_t past_end = std::numeric_limits<std::uint64_t>::max();

/// 1*DIGIT. A numeral past 64 bits saturates: as a position or a suffix length it can only
/// mean "beyond the end of any file", which is how §14.1.1 asks recipients to take it.
std::optional<std::uint64_t> digits(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto d = static_cast<std::uint64_t>(c - '0');
    v = v > (past_end - d) / 10 ? past_end : v * 10 + d;
  }
  return v;
}

enum class Spec { range, unsatisfiable, invalid };

/// One range-spec (int-range or suffix-range) against `size` > 0, clamped into `out`.
Spec parse_spec(std::string_view s, std::uint64_t size, ByteRange& out) {
  const std::size_t dash = s.find('-');
  if (dash == std::string_view::npos) return Spec::invalid;
  if (dash == 0) { // suffix-range: the last N bytes; N = 0 selects nothing (§14.1.1)
    auto n = digits(s.substr(1));
    if (!n) return Spec::invalid;
    if (*n == 0) return Spec::unsatisfiable;
    out = {size - std::min(*n, size), size - 1};
    return Spec::range;
  }
  auto first = digits(s.substr(0, dash));
  if (!first) return Spec::invalid;
  std::optional<std::uint64_t> last;
  if (dash + 1 < s.size()) {
    last = digits(s.substr(dash + 1));
    if (!last || *last < *first) return Spec::invalid; // checked before satisfiability
  }
  if (*first >= size) return Spec::unsatisfiable;
  out = {*first, last ? std::min(*last, size - 1) : size - 1};
  return Spec::range;
}

struct Numbered {
  ByteRange range;
  std::size_t order; // position of the (earliest) spec in the header
};

} // namespace

std::optional<std::vector<ByteRange>> parse_byte_ranges(std::string_view header, std::uint64_t size,
                                                        const RangeLimits& limits) {
  const std::size_t eq = header.find('=');
  if (eq == std::string_view::npos || !iequals(header.substr(0, eq), "bytes")) return std::nullopt;
  if (size == 0 || limits.max_ranges == 0) return std::nullopt;

  std::vector<Numbered> ranges;
  std::size_t specs = 0;
  std::uint64_t total = 0; // satisfiable lengths before coalescing; each <= size, so no overflow
  std::string_view rest = header.substr(eq + 1);
  for (;;) {
    const std::size_t comma = rest.find(',');
    // Empty list elements are allowed and skipped (RFC 9110 §5.6.1.2).
    if (std::string_view spec = trim_ows(rest.substr(0, comma)); !spec.empty()) {
      if (++specs > limits.max_specs) return std::nullopt;
      ByteRange r;
      switch (parse_spec(spec, size, r)) {
      case Spec::invalid:
        return std::nullopt;
      case Spec::unsatisfiable:
        break;
      case Spec::range:
        total += r.length();
        if (total > size) return std::nullopt; // more than the file: overlapping on purpose
        ranges.push_back({r, specs});
        break;
      }
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (specs == 0) return std::nullopt; // "bytes=" or only commas: not a range-set

  // Coalesce what overlaps or touches (§14.2 allows it, whatever the order in the header).
  if (ranges.size() > 1) {
    std::sort(ranges.begin(), ranges.end(),
              [](const Numbered& a, const Numbered& b) { return a.range.first < b.range.first; });
    std::size_t kept = 0;
    for (std::size_t i = 1; i < ranges.size(); ++i) {
      Numbered& last = ranges[kept];
      if (ranges[i].range.first <= last.range.last + 1) { // last < size - 1 + 1: no overflow
        last.range.last = std::max(last.range.last, ranges[i].range.last);
        last.order = std::min(last.order, ranges[i].order);
      } else {
        ranges[++kept] = ranges[i];
      }
    }
    ranges.resize(kept + 1);
    // Parts go out in the order their specs came (§14.6).
    std::sort(ranges.begin(), ranges.end(),
              [](const Numbered& a, const Numbered& b) { return a.order < b.order; });
  }
  if (ranges.size() > limits.max_ranges) return std::nullopt;

  std::vector<ByteRange> out;
  out.reserve(ranges.size());
  for (const Numbered& n : ranges)
    out.push_back(n.range);
  return out;
}

} // namespace lithe::mw
