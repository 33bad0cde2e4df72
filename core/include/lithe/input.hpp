// Input: the request body as the app reads it, env.input() (SPEC §2.12). A body the engine
// read whole before calling the app is there at once (and in env.body()); a streamed body
// (HttpOptions::stream_bodies, SPEC 2.12) arrives after the call, with backpressure down to
// the socket: the engine stops reading while the app holds more than the high-water mark
// unread. Three ways to read, one at a time:
//
//   env.input().on_data([](std::string_view bytes) { ... });   // push, then on_end/on_error
//   env.input().read([](lithe::InputChunk c) { ... });          // pull one piece
//   lithe::InputChunk c = co_await env.input().read();          // the same in a coroutine
//
// Loop thread only. Callbacks never run inside the call that registers them.
#pragma once

#include <lithe/function.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lithe {

class Env;
class InputRead;
namespace detail {
class InputStream;
}

/// Why a body ended before its last byte (SPEC 2.12).
enum class InputError : std::uint8_t {
  none,
  too_large,   // past the limit (Input::set_limit, HttpOptions::max_stream_body_bytes)
  timeout,     // the client stopped sending (HttpOptions::body_timeout)
  client_gone, // the connection closed
  malformed,   // bad chunked framing
  finished,    // the response finished first; the rest of the body is not read
};
std::string_view to_string(InputError e) noexcept;

/// One piece of a pulled body. `data` stays valid until the next read() (or the request's
/// end). The last piece has `end` set (with no data); `error` says whether the body ended
/// whole.
struct InputChunk {
  std::string_view data;
  bool end = false;
  InputError error = InputError::none;
};

class Input {
public:
  /// True when the body arrives after the app was called (it is not in env.body()).
  bool streaming() const noexcept;
  /// The declared length (Content-Length), if any.
  std::optional<std::uint64_t> length() const noexcept;
  /// Bytes that arrived so far (all of them when not streaming).
  std::uint64_t received() const noexcept;
  /// Every byte arrived (or the body ended early: then error() says why).
  bool ended() const noexcept;
  InputError error() const noexcept;

  /// The most this body may bring; past it the body ends with too_large and the engine
  /// answers 413 if the app has not answered yet. A route's body limit.
  void set_limit(std::uint64_t bytes) noexcept;

  // Push: each piece as it arrives (the view is valid during the call), then on_end once (the
  // whole body came) or on_error once (it did not).
  void on_data(Function<void(std::string_view)> fn);
  void on_end(Task fn);
  void on_error(Function<void(InputError)> fn);
  /// Holds delivery (and, once the high-water mark is reached, reading the socket).
  void pause();
  void resume();

  // Pull: calls `fn` once with the next piece (all that is buffered, or what arrives next),
  // or with the end.
  void read(Function<void(InputChunk)> fn);
  /// `co_await env.input().read()` (lithe/co.hpp).
  InputRead read();

  /// Gathers the whole body (at most `max` bytes) and then calls `done`: with none, and the
  /// body in env.body(); else with the error (too_large past `max`). For handlers that want a
  /// whole body on a server that streams (the router does this for routes that do not stream).
  /// Called again once the body was gathered (a middleware inside such a route), it answers
  /// from env.body() at once.
  void read_all(std::size_t max, Function<void(InputError)> done);

  explicit Input(Env& env) noexcept : env_(&env) {}
  detail::InputStream* stream() const noexcept { return s_; }
  void attach(detail::InputStream* s) noexcept { s_ = s; }

private:
  friend class InputRead;
  detail::InputStream& ensure();
  detail::InputStream* usable(const char* what);
  Env* env_;
  detail::InputStream* s_ = nullptr; // null: the body is whole in env.body()
};

} // namespace lithe
