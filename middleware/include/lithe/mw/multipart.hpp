// Multipart: a streaming multipart/form-data parser (RFC 7578; delimiters as RFC 2046 §5.1.1;
// Content-Disposition name and filename as RFC 7578 §4.2, filename* as RFC 5987). A push
// parser: feed() it the body in any split and it calls back for each part's head, its data
// (views into the fed bytes, never copies) and its end, then the end of the body; every limit
// it holds is an error value. The boundary search is linear in the bytes fed, whatever the
// split. docs/multipart.md.
#pragma once

#include <lithe/env.hpp>
#include <lithe/function.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lithe::mw {

/// Why a multipart body was refused. `none` while it parses well.
enum class MultipartError : std::uint8_t {
  none,
  bad_boundary,       // not 1..70 characters of RFC 2046 bchars
  preamble_too_large, // more than max_preamble bytes before the first delimiter
  bad_delimiter,      // a delimiter line followed by something other than "--" or CRLF
  header_too_large,   // a part's header section past max_header_bytes
  too_many_headers,   // more than max_headers header lines in a part
  bad_header,         // a header line with no colon, a bare CR or LF, a control byte
  too_many_parts,     // more than max_parts parts
  epilogue_too_large, // more than max_epilogue bytes after the close delimiter
  truncated,          // the body ended before its close delimiter
  aborted,            // a callback called abort()
};
std::string_view to_string(MultipartError e) noexcept;

struct MultipartLimits {
  std::size_t max_header_bytes = 8 << 10; // one part's header section
  std::size_t max_headers = 16;           // header lines in one part
  std::size_t max_parts = 4096;           // Rack's multipart_total_part_limit
  std::size_t max_preamble = 16 << 10;    // bytes before the first delimiter
  std::size_t max_epilogue = 16 << 10;    // bytes after the close delimiter
};

/// A part's head, valid during on_part. Views into the parser's buffer.
struct PartHead {
  std::vector<RequestHeader> headers; // every header line, names as sent
  std::string_view name;              // Content-Disposition's name ("" when absent)
  std::string_view filename;          // filename (or filename*), without any directory part
  bool has_filename = false;          // a filename parameter was there (it may be empty)
  std::string_view content_type;      // as sent; "" when absent (RFC 7578 §4.4: text/plain)
  std::optional<std::string_view> header(std::string_view name) const noexcept;
};

struct MultipartCallbacks {
  Function<void(const PartHead&)> on_part;
  /// A piece of the current part's body: a view into the bytes fed (or into the parser's own
  /// copy of the delimiter, for bytes that looked like its start), valid during the call.
  Function<void(std::string_view)> on_data;
  Function<void()> on_part_end;
  /// The close delimiter was seen: the form is whole (what follows is epilogue).
  Function<void()> on_end;
};

class MultipartParser {
public:
  MultipartParser(std::string_view boundary, MultipartCallbacks callbacks,
                  MultipartLimits limits = {});
  /// Parses the next bytes; the error, if the body is refused (then no callback runs again).
  MultipartError feed(std::string_view bytes);
  /// The body ended: truncated unless the close delimiter was seen.
  MultipartError finish();
  /// From a callback: stop at once with `aborted` (no callback after this one).
  void abort() noexcept;
  MultipartError error() const noexcept { return error_; }
  /// The close delimiter was seen.
  bool done() const noexcept { return state_ == State::epilogue; }
  std::size_t parts() const noexcept { return parts_; }

private:
  enum class State : std::uint8_t {
    preamble,
    after_delimiter,
    dash,
    padding,
    cr,
    headers,
    body,
    epilogue,
    failed
  };
  MultipartError fail(MultipartError e) noexcept;
  bool scan(std::string_view& in, bool body);
  bool header_bytes(std::string_view& in);
  bool end_headers();

  std::string delim_; // "\r\n--" boundary
  MultipartCallbacks cb_;
  MultipartLimits lim_;
  State state_ = State::preamble;
  MultipartError error_ = MultipartError::none;
  std::size_t matched_ = 2; // delimiter bytes matched at the end of the last feed
  std::size_t count_ = 0;   // preamble, epilogue or padding bytes so far
  std::size_t parts_ = 0;
  std::string head_;           // the current part's header section
  std::size_t line_start_ = 0; // where its last, unfinished line starts
  std::string name_, filename_;
  PartHead part_;
};

/// The boundary parameter of a multipart Content-Type ("multipart/form-data; boundary=x"),
/// unquoted; nullopt when there is none or it is not 1..70 valid characters.
std::optional<std::string> multipart_boundary(std::string_view content_type);

/// Content-Disposition's parameters (RFC 6266 §4.1 grammar, as RFC 7578 §4.2 uses it): the
/// value of `param` ("name", "filename"), unquoted, into `out`; false when absent.
bool disposition_param(std::string_view disposition, std::string_view param, std::string& out);

} // namespace lithe::mw
