// The response triple {status, headers, body} and the async sentinel (SPEC §3).
#pragma once

#include <lithe/body.hpp>
#include <lithe/headers.hpp>

namespace lithe {

/// The async sentinel's type: `return lithe::async;` means "no response yet" (Thin's -1).
struct AsyncTag {
  explicit constexpr AsyncTag(int) noexcept {}
};
inline constexpr AsyncTag async{0};

struct Response {
  int status = 200;
  Headers headers;
  Body body;

  Response() = default;
  Response(AsyncTag) noexcept : status(-1) {} // NOLINT: `return lithe::async;`
  Response(int status_, Headers headers_ = {}, Body body_ = {})
      : status(status_), headers(std::move(headers_)), body(std::move(body_)) {}

  /// True for the sentinel: the real response comes later through env.async_callback().
  bool is_async() const noexcept { return status == -1; }
};

/// The reason phrase of a status code ("Not Found"), or "" for an unknown code.
std::string_view reason_phrase(int status) noexcept;

/// The one answer to an exception an app, a filter or a handler threw (any exception, not only
/// std::exception) and to a request that can no longer get its own response (SPEC 1.4):
/// `500`, `text/plain`, "Internal Server Error". The engine, MockRequest, coroutine handlers and
/// the router answer with it; ShowExceptions renders its own page instead.
Response internal_server_error();

/// True for statuses that never carry a body (1xx, 204, 304). RFC 9110 §6.4.1.
constexpr bool status_has_no_body(int status) noexcept {
  return (status >= 100 && status < 200) || status == 204 || status == 304;
}

} // namespace lithe
