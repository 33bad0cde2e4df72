// Router: Sinatra's routing DSL on the lithe protocol, with async_sinatra's helpers.
// Patterns compile into a segment tree matched in one walk ("/hello/:name", "/say/*/to/*",
// "/files/*.*", "/posts/:id?"); regex routes are tried only when the tree has no match. A
// Router is an App (404/405 of its own) and a Middleware (no match: the next app answers).
// Handlers may answer at once, return lithe::async, or use the async helpers (`aget`...).
#pragma once

#include <lithe/app.hpp>
#include <lithe/co.hpp>
#include <lithe/mw/websocket.hpp>

#include <exception>
#include <functional>
#include <memory>
#include <regex>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace lithe::mw {

/// Thrown by halt(): stops the route, filters included, and answers `response`.
struct Halt {
  Response response;
};
/// Thrown by pass(): this route declines; the next matching route (or the next app) answers.
struct Pass {};

/// Sinatra's halt: `halt(403)`, `halt(404, "no such user\n")`. Status-only halts go through
/// the error handler registered for that status.
[[noreturn]] void halt(int status, std::string body = {});
[[noreturn]] void halt(Response response);
[[noreturn]] void pass();

/// Every "splat" parameter of the matched route, in order ("/say/*/to/*").
std::vector<std::string_view> splats(const Env& env);

class AsyncRequest;

/// A route's request body (SPEC 2.12; docs/router.md).
struct RouteOptions {
  /// Call the handler as soon as the head has arrived and let it read env.input() as the body
  /// comes. Takes effect on a server that streams bodies (HttpOptions::stream_bodies); a route
  /// that does not stream gets its body whole there, gathered by the router first.
  bool stream = false;
  /// The most this route's body may bring (0: the router's default, Router::max_body); more
  /// is answered 413.
  std::uint64_t max_body = 0;
};

class Router {
public:
  /// A route's handler: a function `Response(Env&)`, or a coroutine `lithe::Co<Response>
  /// (Env&)` (lithe/co.hpp) that may co_await lithe::sleep, lithe::in_thread and other Co<T>.
  /// halt() and pass() work in a coroutine until its first suspension.
  struct Handler : std::function<Response(Env&)> {
    using std::function<Response(Env&)>::function;
    Handler(std::function<Response(Env&)> f) noexcept // NOLINT: implicit (an App)
        : std::function<Response(Env&)>(std::move(f)) {}
    template <class F>
    requires std::is_same_v<std::invoke_result_t<F&, Env&>, Co<Response>> Handler(F f)
        : std::function<Response(Env&)>(co_app(std::move(f))) {} // NOLINT: implicit
  };
  using AsyncHandler = std::function<void(AsyncRequest)>;
  using Filter = std::function<void(Env&)>;
  using AfterFilter = std::function<void(Env&, Response&)>;
  using ErrorHandler = std::function<Response(Env&, int status)>;
  using ExceptionHandler = std::function<Response(Env&, const std::exception&)>;

  Router();
  /// Copies share one set of routes (an App holds a copy; routes added later are seen).
  Router(const Router&) = default;
  Router& operator=(const Router&) = default;
  ~Router();

  Router& get(std::string_view pattern, Handler h) { return route("GET", pattern, std::move(h)); }
  Router& post(std::string_view pattern, Handler h, RouteOptions o = {}) {
    return route("POST", pattern, std::move(h), o);
  }
  Router& put(std::string_view pattern, Handler h, RouteOptions o = {}) {
    return route("PUT", pattern, std::move(h), o);
  }
  Router& patch(std::string_view pattern, Handler h) {
    return route("PATCH", pattern, std::move(h));
  }
  Router& del(std::string_view pattern, Handler h) {
    return route("DELETE", pattern, std::move(h));
  }
  Router& head(std::string_view pattern, Handler h) { return route("HEAD", pattern, std::move(h)); }
  Router& options(std::string_view pattern, Handler h) {
    return route("OPTIONS", pattern, std::move(h));
  }
  /// Any method by name; the pattern syntax is in docs/router.md.
  Router& route(std::string_view method, std::string_view pattern, Handler h, RouteOptions o = {});
  /// The body limit of routes that set none (default 512 KiB); more is answered 413.
  Router& max_body(std::uint64_t bytes);
  /// A regex route, matched against PATH_INFO whole; groups become params "1", "2", ...
  Router& route(std::string_view method, std::regex pattern, Handler h);

  /// async_sinatra: the handler finishes the response later through the AsyncRequest.
  Router& aget(std::string_view pattern, AsyncHandler h) {
    return aroute("GET", pattern, std::move(h));
  }
  Router& apost(std::string_view pattern, AsyncHandler h) {
    return aroute("POST", pattern, std::move(h));
  }
  Router& aroute(std::string_view method, std::string_view pattern, AsyncHandler h);

  /// Skinny's DSL: GET upgrade requests on `pattern` become WebSockets with these options
  /// (route params land in the handshake); other requests pass to the next route.
  Router& websocket(std::string_view pattern, WebSocketOptions options);

  /// Filters run around every matched route (Sinatra's before/after). A before filter may halt.
  Router& before(Filter f);
  Router& after(AfterFilter f);
  /// The answer for a status the router makes (404, 405, a bare halt, 500).
  Router& error(int status, ErrorHandler h);
  /// The answer for an exception a handler threw (the default: 500, logged).
  Router& on_exception(ExceptionHandler h);

  /// As an App: no route is 404, a path matched with another method 405 with Allow.
  Response operator()(Env& env) const;
  /// As a Middleware: no route hands the request to the next app.
  Middleware middleware() const;

  /// Implementation: routes, the tree, handlers (shared, so the App copies stay cheap).
  struct Impl;

private:
  std::shared_ptr<Impl> impl_;
};

/// async_sinatra's per-request handle (`body`, `status`, `headers`, `async_schedule`): a
/// copyable handle, captured by value in timers and callbacks, safe from the loop thread after
/// the client left (the answer is then dropped). `env()` is valid only while `pending()`.
class AsyncRequest {
public:
  Env& env() const noexcept;
  /// Sets the status and headers of the answer to come.
  void status(int s) const noexcept;
  void headers(Headers h) const;
  /// Sends the answer now: status (200 by default), headers and this body.
  void body(Body b) const;
  /// Runs fn on the next tick; an exception it throws goes to the router's error handlers.
  void async_schedule(std::function<void(AsyncRequest)> fn) const;
  /// Runs fn once if the client leaves (or a timeout or the server stop ends the request).
  void on_close(Function<void(CloseReason)> fn) const;
  /// A route param, copied (the env may be gone when a callback asks).
  std::string param(std::string_view name) const;
  /// True until the answer went out or the client left.
  bool pending() const noexcept;
  Loop& loop() const noexcept;

  struct State;
  explicit AsyncRequest(std::shared_ptr<State> s) noexcept : state_(std::move(s)) {}
  /// Answers with the router's exception handling (what an exception in a callback becomes).
  void fail(const std::exception& e) const;

private:
  std::shared_ptr<State> state_;
};

} // namespace lithe::mw
