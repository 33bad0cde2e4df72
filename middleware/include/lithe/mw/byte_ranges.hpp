// Byte ranges: the Range header (RFC 9110 §14.1.2 syntax, §14.2 semantics) parsed against a
// representation's size by one pure function, with the bounds a server needs against range
// bombs (§17.15): few range-specs read, overlaps coalesced, few parts served (§14.6 order).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace lithe::mw {

/// Bytes `first` to `last` of a representation, both included, as Content-Range writes them.
struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::uint64_t length() const noexcept { return last - first + 1; }
  friend bool operator==(const ByteRange&, const ByteRange&) = default;
};

struct RangeLimits {
  /// Ranges served once overlapping and adjacent ones are coalesced. A set still larger is
  /// ignored and the whole representation is sent (200), as nginx's max_ranges and Apache's
  /// MaxRanges do. 0 turns ranges off.
  std::size_t max_ranges = 16;
  /// range-specs read from one header: one more and the header is ignored there, so the work
  /// and memory of parsing stay bounded however long the header is.
  std::size_t max_specs = 64;
};

/// Parses a Range header value for a representation of `size` bytes. Returns
///  - nullopt: ignore the header and send the whole representation (200). So for another
///    unit, invalid syntax (a last-pos below its first-pos, a missing dash, an empty set),
///    an empty representation (§14.2 lets a server ignore both), more specs or more ranges
///    than `limits` allow, or ranges whose lengths add up to more than `size` (heavily
///    overlapping: nginx and Apache ignore those too);
///  - an empty list: no range is satisfiable (416 with `Content-Range: bytes */size`);
///  - else the ranges to send, clamped to the representation, overlapping or adjacent ones
///    coalesced into one, in the header's order (a coalesced range takes the place of its
///    earliest member, §14.6).
/// Numbers too large for 64 bits mean "past the end", never an error (§14.1.1). Linear in the
/// header's length; O(k log k) beyond that for k <= limits.max_specs ranges.
std::optional<std::vector<ByteRange>> parse_byte_ranges(std::string_view header, std::uint64_t size,
                                                        const RangeLimits& limits = {});

} // namespace lithe::mw
