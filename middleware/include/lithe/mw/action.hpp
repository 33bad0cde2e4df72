// Cramp-style actions: a class per endpoint with on_start, on_data, on_finish, render,
// finish, periodic_timer and keep_connection_alive, served over Server-Sent Events
// (`sse_action<T>()`) or WebSocket (`websocket_action<T>()`) with the same code. One object
// per connection, alive until on_finish; its callbacks run on the connection's loop.
#pragma once

#include <lithe/app.hpp>
#include <lithe/mw/websocket.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

namespace lithe::mw {

class Action {
public:
  Action();
  virtual ~Action();
  /// The connection is ready: render() works from here.
  virtual void on_start() {}
  /// A message from the client (WebSocket only: an SSE client sends with other requests).
  virtual void on_data(std::string_view) {}
  /// The connection ended (finish(), the client left, the server stopped). The last call.
  virtual void on_finish() {}

  /// Sends data: an SSE event (named `event`, or a plain message) or a WebSocket text message.
  /// False when the connection is gone or over its backpressure mark.
  bool render(std::string_view data, std::string_view event = {});
  /// Ends the connection from the server side.
  void finish();
  /// Runs fn every `every` until the action finishes.
  void periodic_timer(Task fn, std::chrono::milliseconds every);
  /// Keeps idle proxies from closing the connection: an SSE comment or a WebSocket ping.
  void keep_connection_alive(std::chrono::milliseconds every = std::chrono::seconds(15));
  /// The request that opened the connection (path, query, headers, route params).
  const Handshake& request() const noexcept { return request_; }
  Loop& loop() const noexcept { return *loop_; }
  bool finished() const noexcept { return finished_; }

  /// Transport glue, used by sse_action and websocket_action.
  struct Binding;
  void bind(std::unique_ptr<Binding> b, Handshake request, Loop& loop);
  void end(); // the transport closed

private:
  std::unique_ptr<Binding> binding_;
  Handshake request_;
  Loop* loop_ = nullptr;
  std::vector<TimerId> timers_;
  bool finished_ = false;
};

/// An App serving `make()`'s action over text/event-stream.
App sse_action(std::function<std::shared_ptr<Action>()> make);
/// WebSocket options serving `make()`'s action (add them to a Router or websocket()).
WebSocketOptions websocket_action(std::function<std::shared_ptr<Action>()> make,
                                  WebSocketOptions base = {});

template <class A, class... Args> App sse_action(Args... args) {
  return sse_action([args...] { return std::shared_ptr<Action>(std::make_shared<A>(args...)); });
}
template <class A, class... Args> WebSocketOptions websocket_action(Args... args) {
  return websocket_action(
      [args...] { return std::shared_ptr<Action>(std::make_shared<A>(args...)); });
}

} // namespace lithe::mw
