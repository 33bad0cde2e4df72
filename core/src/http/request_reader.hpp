// RequestReader: bytes to requests (RFC 9112 §2-7) over llhttp. It finds the head (method,
// target, header fields as spans into the caller's buffer), checks it (limits, Host,
// Transfer-Encoding, Expect, target form, line ends), and gathers the body or hands it to a
// streamed body's InputStream. Every refusal goes through one reject(status, reason). It knows
// no socket and no app: HttpConnection feeds it and acts on its events.
#pragma once

#include <lithe/detail/input_stream.hpp>
#include <lithe/http.hpp>
#include <lithe/small_vector.hpp>

#include <llhttp.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace lithe::http {

/// RFC 9110 §7.2, RFC 3986 §3.2.2: a Host value is uri-host [":" port] (or empty).
bool valid_host(std::string_view host) noexcept;

/// One worker's memory of the last Host found valid: the same Host comes again and again.
class HostCache {
public:
  bool ok(std::string_view host);

private:
  std::string last_;
};

class RequestReader {
public:
  struct Span {
    std::uint32_t off = 0, len = 0;
  };
  struct HeaderSpan {
    Span name, value;
  };
  enum class Event : std::uint8_t {
    more,  // every byte given was used; more are needed
    head,  // a streamed body's head is complete (the body follows: feed on)
    end,   // a request is complete (for a streamed body: the body's end)
    error, // refused: status() and reason() say why
  };

  /// Starts a request. With `stream_bodies`, a request whose body has not arrived with its
  /// head stops at the head (Event::head) and its body goes to the stream given by
  /// stream_to().
  void begin(const HttpOptions& opts, HostCache& hosts, bool stream_bodies);
  /// Parses `len` bytes at `p`; `base` is the request's first byte (in the same buffer, or a
  /// copy of the bytes before `p`), from which spans count. `used` gets the bytes consumed.
  Event feed(const char* base, const char* p, std::size_t len, std::size_t& used);
  /// Where a streamed body's bytes go (after Event::head).
  void stream_to(detail::InputStream* s) noexcept { sink_ = s; }
  /// Refuses the request; returns -1 for llhttp.
  int reject(std::uint16_t status, const char* reason) noexcept;

  // The request, after Event::head or Event::end.
  const llhttp_t& parser() const noexcept { return parser_; }
  Span url() const noexcept { return url_; }
  const SmallVector<HeaderSpan, 24>& headers() const noexcept { return headers_; }
  /// The end of the head relative to `base` (the first body byte).
  std::uint32_t head_end() const noexcept { return head_end_; }
  /// A whole (not streamed) body: a span of the request's bytes, or gathered (chunked).
  bool body_gathered() const noexcept { return copied_; }
  Span body_span() const noexcept { return body_span_; }
  const std::string& body_copy() const noexcept { return body_copy_; }
  bool streams() const noexcept { return stream_; }
  /// The head is complete (a body is being read).
  bool head_done() const noexcept { return headers_done_; }
  /// Expect: 100-continue on a request with a body.
  bool continue_due() const noexcept { return continue_; }
  std::optional<std::uint64_t> content_length() const noexcept;

  std::uint16_t status() const noexcept { return status_; }
  const char* reason() const noexcept { return reason_; }
  /// The answer to a refused request: the status, and the text (the reason, llhttp's own when
  /// no check of ours gave one).
  std::uint16_t error_status() const noexcept;
  std::string error_text() const;

  // A gathered chunked body need not keep its framing: bytes from `keep()` on (relative to
  // base) may be dropped as parsed; the caller reports them with dropped(n) so limits see them.
  std::uint32_t keep() const noexcept { return keep_; }
  void dropped(std::uint32_t n) noexcept { dropped_ += n; }
  /// Memory held beyond the caller's buffer.
  std::size_t memory() const noexcept { return body_copy_.capacity(); }
  void release_memory();

  // llhttp callbacks (request_reader.cpp's settings).
  int on_url(const char* at, std::size_t len);
  int on_header_field(const char* at, std::size_t len);
  int on_header_value(const char* at, std::size_t len);
  int on_headers_complete();
  int on_body(const char* at, std::size_t len);

private:
  int on_trailer(std::size_t len);
  bool over_head_limit(const char* at, std::size_t len);
  const char* line_ends_fault(std::size_t len) const noexcept;
  void note_tail(const char* p, std::size_t n) noexcept;

  llhttp_t parser_{};
  const HttpOptions* opts_ = nullptr;
  HostCache* hosts_ = nullptr;
  detail::InputStream* sink_ = nullptr;
  const char* base_ = nullptr; // during feed
  const char* end_ = nullptr;  // the end of the bytes given to feed
  Span url_;
  SmallVector<HeaderSpan, 24> headers_;
  Span body_span_;
  std::string body_copy_; // a chunked body's pieces, gathered
  std::uint32_t head_end_ = 0;
  std::uint32_t keep_ = 0;
  std::uint32_t dropped_ = 0;
  std::uint32_t trailer_bytes_ = 0;
  std::uint16_t status_ = 0;
  const char* reason_ = nullptr;
  llhttp_errno_t err_ = HPE_OK;
  char tail_[4] = {}; // a streamed chunked body's last bytes (its end is checked for CRLF)
  std::uint8_t tail_len_ = 0;
  bool allow_stream_ = false;
  bool stream_ = false;
  bool in_value_ = false;
  bool headers_done_ = false;
  bool copied_ = false;
  bool continue_ = false;
};

} // namespace lithe::http
