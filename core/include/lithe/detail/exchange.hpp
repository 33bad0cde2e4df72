// The life of one request and its response, shared by every side that can serve it (the
// HTTP/1.1 engine, MockRequest): the async sentinel and its callback, response filters,
// close and finish hooks, and the states behind DeferrableBody and Socket handles.
// SPEC §5-7. Everything here runs on the exchange's loop unless a comment says otherwise.
#pragma once

#include <lithe/app.hpp>
#include <lithe/detail/input_stream.hpp>
#include <lithe/detail/ref.hpp>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lithe::detail {

class Exchange;
class BodyState;

/// The side that sends an exchange's response.
class Sink {
public:
  /// Sends the head and then the body, whatever its kind. Called once per exchange.
  virtual void respond(Exchange& ex, Response&& r) = 0;
  /// Deferrable and streaming body bytes (already filtered), and the end of that body.
  virtual void body_write(Exchange& ex, std::string_view bytes) = 0;
  virtual void body_write(Exchange& ex, std::string&& bytes) = 0;
  virtual void body_end(Exchange& ex, bool ok) = 0;
  /// Unsent bytes queued on the connection, and the backpressure mark.
  virtual std::size_t buffered() const noexcept = 0;
  virtual std::size_t high_water() const noexcept = 0;
  virtual void log_error(const Exchange& ex, std::string_view message) = 0;
  /// The client's address as text, for REMOTE_ADDR, formatted when the app first asks (and
  /// kept by the exchange); empty if the sink cannot tell.
  virtual std::string_view peer_address(Exchange& ex) noexcept {
    (void)ex;
    return {};
  }
  /// The connection's TLS details (Transport::tls_info); empty without TLS.
  virtual std::string tls_info(Exchange& ex, std::string_view name) {
    (void)ex, (void)name;
    return {};
  }

protected:
  ~Sink() = default;
};

/// Counters of one worker (SPEC §6.4, the leak guard). Relaxed atomics: read from any thread.
struct LiveCounters {
  std::atomic<long> exchanges{0}; // requests whose exchange is alive (app or handles hold it)
  std::atomic<long> awaiting{0};  // requests that returned the sentinel, no response yet
  std::atomic<long> bodies{0};    // deferrable/streaming bodies not yet ended
  std::atomic<long> sockets{0};   // hijacked sockets not yet closed
};

class Exchange : public RefCounted {
public:
  enum class State { idle, calling, awaiting, responding, done };

  Exchange();
  virtual ~Exchange();
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  /// Starts a request: binds the env to this exchange and the sink. Engine side.
  void begin(Loop& loop, Sink& sink, LiveCounters* counters);
  /// The request as the engine parsed it. Every view must stay valid until the exchange is
  /// recycled (or until relocate() moves it). The target is split into PATH_INFO and
  /// QUERY_STRING here; SERVER_NAME/PORT come from Host, else from `default_port`.
  struct Request {
    std::string_view method, target, protocol, scheme, remote_addr, default_port, body;
  };
  void set_request(const Request& r);
  void add_request_header(std::string_view name, std::string_view value) {
    env.headers_.push_back(RequestHeader{name, value});
  }
  void set_request_body(std::string_view body) noexcept { env.body_ = body; }
  /// Moves every view of the request that points into [from, from + len) to the same offset
  /// from `to` (the engine copied the request bytes there: SPEC §2.9).
  void relocate(const char* from, std::size_t len, const char* to) noexcept;
  /// Calls the app and handles what it returns (a response, the sentinel, an exception).
  void call(const App& app);
  /// Delivers a (late) response: filters, then the sink. False if it was too late.
  bool deliver(Response r);
  /// The response was fully written (reason done) or cut short; runs the hooks once.
  void finish(CloseReason reason);
  /// Count of the head and body bytes (engine side), for Outcome.
  Outcome& outcome() noexcept { return outcome_; }

  /// Opens the request body's stream (engine side, or Input for a whole body).
  InputStream& open_input(InputSource* source, std::optional<std::uint64_t> length,
                          std::uint64_t limit, bool streamed);
  InputStream* input() const noexcept { return input_.get(); }
  /// The response finished (its hooks ran).
  bool finished() const noexcept { return finished_; }

  State state() const noexcept { return state_; }
  bool responded() const noexcept { return responded_; }
  Sink* sink() const noexcept { return sink_; }
  Loop* loop() const noexcept { return loop_; }
  /// The loop's post queue: safe from any thread, even once the loop has ended.
  const LoopHandle& home() const noexcept { return home_; }
  LiveCounters* counters() const noexcept { return counters_; }
  bool gone() const noexcept { return gone_.load(std::memory_order_acquire); }

  // Handle bookkeeping (any thread).
  void callback_acquired() noexcept { callbacks_.fetch_add(1, std::memory_order_relaxed); }
  void callback_released() noexcept;

  // Hooks registered through Env.
  void add_filter(Function<Response(Env&, Response)> fn) { filters_.push_back(std::move(fn)); }
  void add_close_hook(Function<void(CloseReason)> fn);
  /// Gives up waiting for a late response: the close hooks run now with `why`, then
  /// `instead` is sent. False if a response was already given.
  bool abandon(CloseReason why, Response instead);
  void add_finish_hook(Function<void(Env&, const Outcome&)> fn);
  bool has_finish_hooks() const noexcept { return !finish_hooks_.empty(); }

  /// The body stream attached to this exchange's response, if any.
  BodyState* body() const noexcept { return body_.get(); }
  void attach_body(BodyState* b) noexcept;

  Env env;

  /// What the last Ref's drop does: the engine recycles into its pool. Any thread.
  static void last_ref_dropped(Exchange* ex) noexcept { ex->recycle(); }

protected:
  /// Returns this exchange to its owner (pool) or deletes it. Called on any thread.
  virtual void recycle() noexcept = 0;
  /// Clears the request state for reuse from a pool (loop thread).
  void reset_for_reuse() noexcept;

private:
  Response invoke(const App& app);
  void respond_now(Response r);
  void dropped_callback_check();
  Response internal_error(std::string_view what);

  Loop* loop_ = nullptr;
  LoopHandle home_; // loop_'s post queue (set when the loop changes, not per request)
  Sink* sink_ = nullptr;
  LiveCounters* counters_ = nullptr;
  State state_ = State::idle;
  bool responded_ = false;
  bool finished_ = false;
  bool abandoned_ = false; // abandon() gave the response: the app's late call is not its error
  std::atomic<bool> gone_{false};
  std::atomic<int> callbacks_{0};
  std::optional<Response> early_; // delivered while the app was still in `call`
  SmallVector<Function<Response(Env&, Response)>, 2> filters_;
  SmallVector<Function<void(CloseReason)>, 1> close_hooks_;
  SmallVector<Function<void(Env&, const Outcome&)>, 1> finish_hooks_;
  Outcome outcome_;
  Ref<BodyState> body_;
  std::unique_ptr<InputStream> input_;
};

/// A sink for body bytes: Exchange's Sink in HTTP, or a filter stage.
class BodyState : public RefCounted {
public:
  explicit BodyState(Loop* loop);
  ~BodyState();

  // All on the loop thread (the handle posts there first).
  bool write(std::string_view bytes);
  bool write(std::string&& bytes);
  void end(bool ok);
  /// The engine attaches the body once the head is out; pending writes flow then.
  void attach(Exchange& ex);
  /// The connection drained below the mark.
  void drained();
  /// The body ended (after end(), or the client left); runs the close hook once.
  void close(CloseReason reason);
  bool writable() const noexcept;
  std::size_t buffered() const noexcept;
  /// What writable() and buffered() said when the loop last looked: for other threads.
  bool writable_seen() const noexcept;
  std::size_t buffered_seen() const noexcept {
    return seen_buffered_.load(std::memory_order_relaxed);
  }
  /// Bytes posted from other threads that the loop has not written yet.
  void posted_bytes(std::ptrdiff_t delta) noexcept {
    posted_.fetch_add(delta, std::memory_order_relaxed);
  }

  void set_on_drain(Task fn) { on_drain_ = std::move(fn); }
  void set_on_close(Function<void(CloseReason)> fn);
  void add_filter(Function<std::string(std::string_view, bool)> fn) {
    filters_.push_back(std::move(fn));
  }

  Loop* loop() const noexcept { return loop_; }
  const LoopHandle& home() const noexcept { return home_; }
  /// True on the body's loop thread, or when it has no loop yet.
  bool on_loop() const noexcept { return !loop_ || home_.in_loop_thread(); }
  bool is_closed() const noexcept { return closed_.load(std::memory_order_acquire); }
  bool ended() const noexcept { return ended_; }

  void handle_acquired() noexcept { handles_.fetch_add(1, std::memory_order_relaxed); }
  void handle_released() noexcept;

  static void last_ref_dropped(BodyState* b) noexcept;

private:
  template <class S> bool write_impl(S&& bytes);
  std::string run_filters(std::string_view chunk, bool last);
  void remember() noexcept; // updates the seen_ snapshot (loop thread)

  Loop* loop_;
  LoopHandle home_;
  LiveCounters* counters_ = nullptr; // set while attached and open
  Exchange* ex_ = nullptr;           // attached exchange (holds a Ref to us); nullptr when detached
  std::vector<std::string> pending_;
  std::atomic<bool> ended_{false}; // the app called succeed/fail (handles read it: 4.6)
  bool ok_ = true;
  bool want_drain_ = false;
  std::atomic<bool> closed_{false};
  std::atomic<int> handles_{0};
  std::atomic<bool> seen_writable_{true};
  std::atomic<std::size_t> seen_buffered_{0}, seen_high_water_{64 * 1024};
  std::atomic<std::ptrdiff_t> posted_{0};
  Task on_drain_;
  Function<void(CloseReason)> on_close_;
  SmallVector<Function<std::string(std::string_view, bool)>, 1> filters_;
};

/// The engine side of a hijacked socket.
class SocketSink {
public:
  virtual bool sock_write(std::string_view bytes) = 0;
  virtual bool sock_write(std::string&& bytes) = 0;
  virtual void sock_close(bool abort) = 0;
  virtual void sock_pause(bool paused) = 0;
  virtual std::size_t sock_buffered() const noexcept = 0;
  virtual std::size_t sock_high_water() const noexcept = 0;
  /// The app's charge changed: false when the connection is now over its memory budget.
  virtual bool sock_charged() = 0;
  virtual std::size_t sock_budget() const noexcept = 0;

protected:
  ~SocketSink() = default;
};

class SocketState : public RefCounted {
public:
  SocketState(Loop* loop, SocketSink* sink, LiveCounters* counters);
  ~SocketState();

  // Engine → app (loop thread).
  void deliver_data(std::string_view bytes);
  void drained();
  void stopping();
  void closed(CloseReason reason);
  bool wants_drain() const noexcept { return want_drain_; }

  // App → engine (through Socket).
  bool write(std::string_view bytes);
  bool write(std::string&& bytes);
  void close(bool abort);
  void pause(bool paused);
  std::size_t buffered() const noexcept;
  std::size_t high_water() const noexcept;
  bool charge(std::ptrdiff_t bytes);
  std::size_t charged() const noexcept { return charged_; }
  std::size_t budget() const noexcept;

  Loop* loop() const noexcept { return loop_; }
  const LoopHandle& home() const noexcept { return home_; }
  bool is_closed() const noexcept { return closed_.load(std::memory_order_acquire); }

  Function<void(std::string_view)> on_data;
  Task on_drain;
  Function<void(CloseReason)> on_close;
  Task on_stop;
  std::string early_data; // bytes that arrived before the app set on_data

  static void last_ref_dropped(SocketState* s) noexcept { delete s; }

private:
  template <class S> bool write_impl(S&& bytes);
  Loop* loop_;
  LoopHandle home_;
  SocketSink* sink_;
  LiveCounters* counters_;
  std::size_t charged_ = 0; // memory the app keeps for this connection (loop thread)
  bool want_drain_ = false;
  std::atomic<bool> closed_{false};
};

} // namespace lithe::detail
