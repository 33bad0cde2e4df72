// JSON request bodies and responses with nlohmann-json, within size and depth limits
// (docs/json.md). In the lithe::json library, so only programs that use it compile and link
// nlohmann-json. lithe/mw/json.hpp is the small string escaper the core middleware uses.
#pragma once

#include <lithe/app.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace lithe::mw {

struct JsonLimits {
  std::size_t max_bytes = 1 << 20; // a longer body: 413
  std::size_t max_depth = 64;      // nested arrays and objects; deeper: 400
};

/// A parsed body, or why not: status 400 (malformed, too deep), 413 (too large) or 415 (not a
/// JSON content type), with a reason fit to show the client.
struct JsonResult {
  int status = 0;
  std::string error;
  nlohmann::json value;
  explicit operator bool() const noexcept { return status == 0; }
};

/// Parses `text` within `limits`: the depth is checked as the parser descends, before a level
/// is built, so no input can exhaust the stack or the memory past its own size.
JsonResult parse_json(std::string_view text, const JsonLimits& limits = {});

/// A response with the value as its body, Content-Type application/json. Invalid UTF-8 in
/// strings is replaced (U+FFFD), never thrown.
Response json_response(int status, const nlohmann::json& value, Headers headers = {});
/// The answer to a failed JsonResult: its status and {"error": "..."}.
Response json_error(const JsonResult& result);

/// application/json, or any type/subtype+json (RFC 6839), parameters ignored.
bool is_json_type(std::string_view content_type) noexcept;

/// Reads the whole body (streamed or not, at most limits.max_bytes) and parses it, then calls
/// `done` on the loop, never inside this call unless the body is already known too large. When
/// the body ends early for another reason (the client left, stalled) the engine answers and
/// `done` is not called. The app returns lithe::async and answers from `done`.
void read_json(Env& env, JsonLimits limits, Function<void(JsonResult)> done);

struct JsonBodyOptions {
  JsonLimits limits;
  /// Answer 415 to a request with a body whose Content-Type is not JSON; else it passes.
  bool require_json = false;
};

/// Parses JSON bodies before the app: the value is in request_json(env); a bad body is answered
/// (400, 413, 415) without the app. With streamed bodies put it right before the app: the app
/// then runs when the body has arrived.
Middleware json_body(JsonBodyOptions options = {});

/// The body json_body parsed, or nullptr.
const nlohmann::json* request_json(Env& env);

} // namespace lithe::mw
