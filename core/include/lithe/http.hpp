// The HTTP/1.1 engine (RFC 9112) over any backend: parsing with llhttp, keep-alive,
// pipelining, chunked bodies both ways, Expect: 100-continue, limits and timeouts.
// One engine serves every backend (SPEC §10-11).
#pragma once

#include <lithe/app.hpp>
#include <lithe/transport.hpp>

#include <chrono>
#include <cstddef>
#include <string>

namespace lithe {

struct HttpOptions {
  std::size_t max_header_bytes = 16 * 1024; // request line + headers; over it: 431
  std::size_t max_uri_bytes = 8 * 1024;     // request target; over it: 414
  std::size_t max_headers = 100;            // header count; over it: 431
  std::size_t max_body_bytes = 1 << 20;     // request body; over it: 413
  /// From a request's first byte to its last (head and body); then 408 and close.
  std::chrono::milliseconds request_timeout{30'000};
  /// A kept-alive connection with no request in progress is closed after this.
  std::chrono::milliseconds idle_timeout{60'000};
  /// Queued response bytes that make no progress for this long: the client is too slow.
  std::chrono::milliseconds send_timeout{60'000};
  /// Unsent bytes over which writes report backpressure (DeferrableBody, Socket).
  std::size_t high_water = 64 * 1024;
  /// The Server header ("" to send none).
  std::string server = "lithe";
  /// Check every request and response with Lint (tests).
  bool lint = false;
};

/// The engine as a ServiceFactory for a Backend: one engine per worker loop, calling `app`
/// (each worker holds its own copy of it).
ServiceFactory http_service(App app, HttpOptions options = {});

} // namespace lithe
