// The HTTP/1.1 engine (RFC 9112) over any backend: parsing with llhttp, keep-alive,
// pipelining, chunked bodies both ways, Expect: 100-continue, limits and timeouts.
// One engine serves every backend (SPEC §10-11).
#pragma once

#include <lithe/app.hpp>
#include <lithe/transport.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace lithe {

/// The engine's limits and timeouts. Every byte a connection may make the server hold is
/// bounded by one of these (docs/security.md explains each and how to tune it).
struct HttpOptions {
  std::size_t max_header_bytes = 16 * 1024; // request line + headers; over it: 431
  std::size_t max_uri_bytes = 8 * 1024;     // request target; over it: 414
  std::size_t max_headers = 100;            // header count; over it: 431
  std::size_t max_body_bytes = 512 * 1024;  // request body, read whole before the app; 413
  /// Call the app once a request's head has arrived and stream its body through env.input()
  /// (SPEC 2.12), with backpressure: the socket is not read while the app holds high_water
  /// bytes unread. A body that arrived whole with its head is still given whole.
  bool stream_bodies = false;
  /// A streamed body's default limit (an app or a route may set another: Input::set_limit).
  std::uint64_t max_stream_body_bytes = 1ULL << 30;
  /// All one connection may hold in memory at once: unparsed input and pipelined requests, a
  /// request's body, the output queue's buffers, and what a hijacking app charges to it
  /// (a WebSocket's message and compression state). Over it a request is answered 413 and a
  /// stream is closed, with the reason logged.
  std::size_t max_connection_memory = 1 << 20;
  /// Unsent bytes over which writes report backpressure (DeferrableBody, Socket) and the
  /// connection stops reading (and parsing pipelined requests) until they drain.
  std::size_t high_water = 64 * 1024;
  /// From a request's first byte (or the connection's accept) to the end of its head; then
  /// 408 and close. Slow heads (slowloris) end here.
  std::chrono::milliseconds header_timeout{20'000};
  /// Between two reads that bring request body bytes; then 408 and close.
  std::chrono::milliseconds body_timeout{30'000};
  /// A kept-alive connection with no request in progress is closed after this.
  std::chrono::milliseconds idle_timeout{60'000};
  /// Queued output that makes no progress for this long: the peer does not read; close.
  std::chrono::milliseconds send_timeout{60'000};
  /// The Server header ("" to send none).
  std::string server = "lithe";
  /// Check every request and response with Lint (tests).
  bool lint = false;
};

/// The engine as a ServiceFactory for a Backend: one engine per worker loop, calling `app`
/// (each worker holds its own copy of it).
ServiceFactory http_service(App app, HttpOptions options = {});

} // namespace lithe
