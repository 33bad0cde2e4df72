// Coroutine handlers (SPEC §5.7): an app, or a router handler, may be a C++20 coroutine that
// returns lithe::Co<Response>. It runs on the request's loop; `co_await lithe::sleep(1s)`,
// `co_await lithe::in_thread(fn)` and `co_await` of another Co<T> suspend it without
// blocking the loop, and `co_return` gives the response. Underneath it is the async sentinel:
// a handler that never suspends answers at once; one that does answers through
// env.async_callback() when it ends.
//
//   lithe::App app = lithe::co_app([](lithe::Env& env) -> lithe::Co<lithe::Response> {
//     co_await lithe::sleep(std::chrono::milliseconds(100));
//     std::string sum = co_await lithe::in_thread([] { return expensive(); });
//     co_return lithe::Response{200, {{"Content-Type", "text/plain"}}, sum};
//   });
//
// When the client leaves while the coroutine waits in sleep or in_thread, its frame is
// destroyed there (destructors run; nothing after that point does). While it waits on any
// other awaitable it runs on to its end and its response is discarded.
#pragma once

#include <lithe/app.hpp>
#include <lithe/detail/input_stream.hpp>
#include <lithe/env.hpp>
#include <lithe/function.hpp>
#include <lithe/loop.hpp>
#include <lithe/response.hpp>

#include <chrono>
#include <coroutine>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace lithe {

template <class T = void> class Co;

/// Thrown where work cannot be queued because a bounded queue is full (lithe::in_thread on a
/// full thread pool). An app that catches it answers 503.
class Overloaded : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

namespace detail {

/// What the coroutines of one request share: its loop, and how to cancel the lithe awaitable
/// the chain is suspended in (set from its await_suspend until it resumes).
struct CoContext {
  Loop* loop = nullptr;
  Task cancel;
};

struct CoPromiseBase {
  CoContext* ctx = nullptr;
  std::coroutine_handle<> continuation; // the awaiting coroutine, if any
  void (*on_end)(void*) = nullptr;      // else this, when the top-level coroutine ends
  void* on_end_arg = nullptr;
  std::exception_ptr error;

  struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) const noexcept {
      CoPromiseBase& p = h.promise();
      if (p.continuation) return p.continuation;
      if (p.on_end) p.on_end(p.on_end_arg); // may destroy this frame: touch nothing after
      return std::noop_coroutine();
    }
    void await_resume() const noexcept {}
  };
  std::suspend_always initial_suspend() const noexcept { return {}; } // started when awaited
  FinalAwaiter final_suspend() const noexcept { return {}; }
  void unhandled_exception() noexcept { error = std::current_exception(); }
};

template <class T> struct CoPromise : CoPromiseBase {
  std::optional<T> value;
  Co<T> get_return_object() noexcept;
  template <class U> void return_value(U&& v) { value.emplace(std::forward<U>(v)); }
  T take() {
    if (error) std::rethrow_exception(error);
    return std::move(*value);
  }
};

template <> struct CoPromise<void> : CoPromiseBase {
  Co<void> get_return_object() noexcept;
  void return_void() const noexcept {}
  void take() const {
    if (error) std::rethrow_exception(error);
  }
};

/// The context of the coroutine suspending at `h` (only lithe coroutines can await these).
template <class P> CoContext& context_of(std::coroutine_handle<P> h) noexcept {
  static_assert(std::is_base_of_v<CoPromiseBase, P>,
                "lithe awaitables are awaited inside a lithe::Co coroutine");
  return *h.promise().ctx;
}

} // namespace detail

/// A coroutine that runs on a lithe loop, started when awaited (or by co_app / co_respond),
/// owning its frame. `co_await` of a Co<T> gives its T, or rethrows what escaped it.
template <class T> class [[nodiscard]] Co {
public:
  using promise_type = detail::CoPromise<T>;
  using Handle = std::coroutine_handle<promise_type>;

  explicit Co(Handle h) noexcept : h_(h) {}
  Co(Co&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  Co& operator=(Co&& o) noexcept {
    if (this != &o) {
      if (h_) h_.destroy();
      h_ = std::exchange(o.h_, {});
    }
    return *this;
  }
  Co(const Co&) = delete;
  Co& operator=(const Co&) = delete;
  ~Co() {
    if (h_) h_.destroy();
  }

  bool await_ready() const noexcept { return false; }
  template <class P>
  std::coroutine_handle<> await_suspend(std::coroutine_handle<P> caller) noexcept {
    h_.promise().ctx = &detail::context_of(caller);
    h_.promise().continuation = caller;
    return h_; // run it now; it resumes the caller when it ends
  }
  T await_resume() { return h_.promise().take(); }

  Handle handle() const noexcept { return h_; }

private:
  Handle h_;
};

template <class T> Co<T> detail::CoPromise<T>::get_return_object() noexcept {
  return Co<T>(Co<T>::Handle::from_promise(*this));
}
inline Co<void> detail::CoPromise<void>::get_return_object() noexcept {
  return Co<void>(Co<void>::Handle::from_promise(*this));
}

/// `co_await lithe::sleep(d)`: resumes on the loop after `d` (a loop timer).
struct Sleep {
  Millis duration;
  bool await_ready() const noexcept { return duration.count() <= 0; }
  template <class P> void await_suspend(std::coroutine_handle<P> h) {
    detail::CoContext& ctx = detail::context_of(h);
    Loop& loop = *ctx.loop;
    TimerId t = loop.add_timer(duration, [&ctx, h] {
      ctx.cancel.reset();
      h.resume();
    });
    ctx.cancel = [&loop, t] { loop.cancel_timer(t); };
  }
  void await_resume() const noexcept {}
};

template <class Rep, class Period> Sleep sleep(std::chrono::duration<Rep, Period> d) {
  return {std::chrono::ceil<Millis>(d)};
}

/// `co_await lithe::in_thread(fn)`: runs fn on the server's thread pool (Loop::defer,
/// EM.defer: blocking work, a computation, a blocking client library) and resumes on the loop
/// with its result, or rethrows its exception there. When the pool's queue is full (or the
/// loop has no pool) it does not suspend: it throws lithe::Overloaded, which the app may catch
/// to answer 503 (uncaught, the request is answered 500).
template <class F> class InThread {
public:
  using Result = std::invoke_result_t<F&>;

  explicit InThread(F fn) : state_(std::make_shared<State>(std::move(fn))) {}
  bool await_ready() const noexcept { return false; }
  template <class P> bool await_suspend(std::coroutine_handle<P> h) {
    detail::CoContext& ctx = detail::context_of(h);
    std::shared_ptr<State> s = state_;
    bool queued = ctx.loop->defer(
        [s] {
          try {
            if constexpr (std::is_void_v<Result>)
              s->fn();
            else
              s->value.emplace(s->fn());
          } catch (...) {
            s->error = std::current_exception();
          }
        },
        [s, h, &ctx] {
          if (s->cancelled) return; // the frame (and ctx) are gone
          ctx.cancel.reset();
          h.resume();
        });
    if (!queued) {
      s->error = std::make_exception_ptr(Overloaded("lithe::in_thread: the thread pool is full"));
      return false; // resume at once: await_resume throws
    }
    ctx.cancel = [s] { s->cancelled = true; }; // on the loop, as is the check above
    return true;
  }
  Result await_resume() {
    if (state_->error) std::rethrow_exception(state_->error);
    if constexpr (!std::is_void_v<Result>) return std::move(*state_->value);
  }

private:
  struct Empty {};
  struct State {
    explicit State(F f) : fn(std::move(f)) {}
    F fn;
    std::optional<std::conditional_t<std::is_void_v<Result>, Empty, Result>> value;
    std::exception_ptr error;
    bool cancelled = false;
  };
  std::shared_ptr<State> state_;
};

template <class F> InThread<std::decay_t<F>> in_thread(F&& fn) {
  return InThread<std::decay_t<F>>(std::forward<F>(fn));
}

/// `co_await env.input().read()`: the next piece of the request body (SPEC 2.12), or its end.
/// The piece's view stays valid until the next read.
class InputRead {
public:
  explicit InputRead(Input& in) noexcept : in_(&in) {}
  bool await_ready() {
    s_ = stream();
    if (s_) return s_->take_now(chunk_);
    chunk_ = {{}, true, InputError::finished}; // misused (reported): the body is over
    return true;
  }
  template <class P> void await_suspend(std::coroutine_handle<P> h) {
    detail::CoContext& ctx = detail::context_of(h);
    detail::InputStream* s = s_;
    s->wait(h, &chunk_);
    ctx.cancel = [s] { s->cancel_wait(); };
    ctx_ = &ctx;
  }
  InputChunk await_resume() const noexcept {
    if (ctx_) ctx_->cancel.reset();
    return chunk_;
  }

private:
  detail::InputStream* stream();
  Input* in_;
  detail::InputStream* s_ = nullptr;
  detail::CoContext* ctx_ = nullptr;
  InputChunk chunk_;
};

inline InputRead Input::read() {
  return InputRead(*this);
}

/// Runs a coroutine handler for `env`: its response when it ends without suspending (an
/// exception then propagates as from any handler), else the async sentinel, the response
/// following when it ends (an escaped exception answers 500 and is logged).
Response co_respond(Env& env, Co<Response> co);

namespace detail {
/// Runs `fn` from a copy kept in this frame: a coroutine lambda's captures live in the
/// lambda object, which must outlive the coroutine (the App holding it may be a copy that
/// dies as soon as the handler returns the sentinel).
template <class F> Co<Response> co_invoke(F fn, Env& env) {
  co_return co_await fn(env);
}
} // namespace detail

/// An App from a coroutine function `Co<Response>(Env&)` (a lambda may capture: each request
/// runs its own copy).
template <class F> App co_app(F fn) {
  return [fn = std::move(fn)](Env& env) -> Response {
    return co_respond(env, detail::co_invoke(fn, env));
  };
}

} // namespace lithe
