// ResponseWriter: the bytes of a response's head and the framing of its body (RFC 9112 §4, §6,
// §7), as small pure functions over a buffer. The choice between no body, Content-Length,
// chunked and close-delimited framing is made here once (write_head) and carried by a
// BodyEncoder; the connection only appends what they give it. SPEC §3.
#pragma once

#include <lithe/response.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace lithe::http {

/// How a body goes on the wire. `swallow`: no body bytes are sent (HEAD, 204, 304, hijack).
enum class Framing : std::uint8_t { none, length, chunked, close_delimited, swallow };

/// What a head depends on besides the response.
struct HeadParams {
  bool http10 = false;     // the request was HTTP/1.0
  bool is_head = false;    // the request was HEAD
  bool streaming = false;  // the body is written over time (deferrable, stream)
  bool keep_alive = true;  // the connection may stay open after this response
  std::string_view date;   // "Date: ...\r\n"
  std::string_view server; // "Server: ...\r\n" or empty
};

/// What write_head decided.
struct HeadResult {
  Framing framing = Framing::none;
  std::uint64_t length = 0;    // Framing::length: the body bytes due
  bool keep_alive = true;      // false when the response (or its framing) closes the connection
  std::size_t bytes = 0;       // bytes appended
  bool dropped_header = false; // a header with CR, LF or NUL was left out (SPEC 3.3)
  std::string_view app_length; // the app's Content-Length, when it disagreed with the body's
  std::uint64_t body_size = 0; // ... and the body's size (SPEC 3.6)
};

/// Appends the status line and the header block of `r` (the server's own Date, Server,
/// Content-Length/Transfer-Encoding and Connection among them) and the blank line.
HeadResult write_head(std::string& b, const Response& r, const HeadParams& p);
/// A complete short plain-text response that closes the connection (errors the engine answers
/// itself: 400, 408, 413, ...).
std::size_t write_simple(std::string& b, int status, std::string_view text, std::string_view date,
                         std::string_view server);

/// The framing of a body written over time: what goes before and after each piece, and at
/// its end.
class BodyEncoder {
public:
  BodyEncoder() = default;
  BodyEncoder(Framing f, std::uint64_t length) noexcept : framing_(f), remaining_(length) {}

  Framing framing() const noexcept { return framing_; }
  /// How many of `n` bytes may be sent: all, except past a Content-Length (the rest is
  /// dropped and `truncated()` says so) and none when the body is swallowed.
  std::size_t admit(std::size_t n) noexcept;
  bool truncated() const noexcept { return truncated_; }
  /// Appends what precedes a piece of `n` bytes (a chunk's size line); call only for n > 0.
  void before(std::string& b, std::size_t n) const;
  /// What follows a piece ("\r\n" after a chunk), empty when nothing does.
  std::string_view after() const noexcept { return framing_ == Framing::chunked ? "\r\n" : ""; }
  /// What ends the body ("0\r\n\r\n" for chunked), and whether it ended whole: false when a
  /// Content-Length body ended short (the connection must close).
  std::string_view end() const noexcept { return framing_ == Framing::chunked ? "0\r\n\r\n" : ""; }
  bool complete() const noexcept { return framing_ != Framing::length || remaining_ == 0; }

private:
  Framing framing_ = Framing::none;
  bool truncated_ = false;
  std::uint64_t remaining_ = 0;
};

} // namespace lithe::http
