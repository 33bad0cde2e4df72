// The exchange life cycle (SPEC §5-6): the sentinel and its callback, response filters,
// close and finish hooks, exactly once each; the async-aware checks Lint reports.
#include <lithe/detail/exchange.hpp>
#include <lithe/lint.hpp>
#include <lithe/log.hpp>

#include <exception>
#include <string>

namespace lithe::detail {

Exchange::Exchange() {
  env.ex_ = this;
}
Exchange::~Exchange() = default;

void Exchange::begin(Loop& loop, Sink& sink, LiveCounters* counters) {
  loop_ = &loop;
  if (!(home_ == loop.handle())) home_ = loop.handle(); // pooled per loop: rarely changes
  sink_ = &sink;
  counters_ = counters;
  state_ = State::idle;
  responded_ = false;
  finished_ = false;
  abandoned_ = false;
  gone_.store(false, std::memory_order_relaxed);
  outcome_ = Outcome{};
  env.ex_ = this;
  env.start_ = loop.now();
  if (counters_) counters_->exchanges.fetch_add(1, std::memory_order_relaxed);
}

void Exchange::reset_for_reuse() noexcept {
  if (counters_) counters_->exchanges.fetch_sub(1, std::memory_order_relaxed);
  counters_ = nullptr;
  sink_ = nullptr;
  state_ = State::idle;
  early_.reset();
  filters_.clear();
  close_hooks_.clear();
  finish_hooks_.clear();
  body_.reset();
  if (input_) {
    input_.reset();
    env.input_.attach(nullptr);
  }
  callbacks_.store(0, std::memory_order_relaxed);
  Env& e = env;
  e.method_ = e.script_name_ = e.path_ = e.query_ = e.target_ = e.server_name_ = e.server_port_ =
      e.protocol_ = e.url_scheme_ = e.remote_addr_ = e.body_ = {};
  e.headers_.clear();
  e.extras_.clear();
  e.params_.clear();
  e.owned_.clear();
}

InputStream& Exchange::open_input(InputSource* source, std::optional<std::uint64_t> length,
                                  std::uint64_t limit, bool streamed) {
  input_ = std::make_unique<InputStream>(*this, source, length, limit, streamed);
  env.input_.attach(input_.get());
  return *input_;
}

Response Exchange::internal_error(std::string_view what) {
  std::string msg = "app error: ";
  msg.append(what);
  if (sink_)
    sink_->log_error(*this, msg);
  else
    log_error(msg);
  return internal_server_error();
}

Response Exchange::invoke(const App& app) {
  try {
    return app(env); // constructed in place: no default Response to assign over
  } catch (const std::exception& e) {
    return internal_error(e.what());
  } catch (...) {
    return internal_error("unknown exception");
  }
}

void Exchange::call(const App& app) {
  state_ = State::calling;
  Response r = invoke(app);
  if (!r.is_async()) {
    if (early_) {
      report_lint({"5.3", "the app called the async callback and also returned a response; "
                          "the returned response was sent"});
      early_.reset();
    }
    state_ = State::responding;
    responded_ = true;
    respond_now(std::move(r));
    return;
  }
  state_ = State::awaiting;
  if (counters_) counters_->awaiting.fetch_add(1, std::memory_order_relaxed);
  if (early_) {
    Response late = std::move(*early_);
    early_.reset();
    deliver(std::move(late));
  } else if (callbacks_.load(std::memory_order_acquire) == 0) {
    dropped_callback_check();
  }
}

void Exchange::respond_now(Response r) {
  if (r.is_async()) {
    report_lint({"5.1", "a response was the async sentinel where a real response was due"});
    r = internal_server_error();
  }
  if (sink_) sink_->respond(*this, std::move(r));
}

bool Exchange::deliver(Response r) {
  if (state_ == State::calling) {
    if (early_) {
      report_lint({"5.2", "the async callback was called twice"});
      return false;
    }
    early_ = std::move(r);
    return true;
  }
  if (responded_) {
    // After abandon() the app was told through its close hook, as when the client leaves, and
    // may have called from another thread before it knew: refused, not reported (SPEC 5.2).
    if (!abandoned_)
      report_lint({"5.2", "the async callback was called after a response was given"});
    return false;
  }
  if (gone_.load(std::memory_order_acquire) || !sink_) return false;
  responded_ = true;
  if (state_ == State::awaiting && counters_)
    counters_->awaiting.fetch_sub(1, std::memory_order_relaxed);
  state_ = State::responding;
  for (auto& f : filters_) {
    try {
      r = f(env, std::move(r));
    } catch (const std::exception& e) {
      r = internal_error(e.what());
    } catch (...) {
      r = internal_error("unknown exception in a response filter");
    }
  }
  respond_now(std::move(r));
  return true;
}

void Exchange::dropped_callback_check() {
  // Abandoned: the close hooks let go of their callbacks on purpose (a coroutine's frame is
  // destroyed there) and the engine's answer follows.
  if (state_ != State::awaiting || responded_ || finished_ || abandoned_) return;
  if (callbacks_.load(std::memory_order_acquire) != 0) return;
  report_lint({"5.4", "the app returned the async sentinel and dropped env.async_callback() "
                      "without calling it; answering 500"});
  deliver(internal_server_error());
}

void Exchange::callback_released() noexcept {
  if (callbacks_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  if (gone_.load(std::memory_order_acquire)) return;
  if (home_.in_loop_thread()) {
    dropped_callback_check();
    return;
  }
  home_.post([ref = Ref<Exchange>(this)] { ref->dropped_callback_check(); });
}

void Exchange::add_close_hook(Function<void(CloseReason)> fn) {
  if (finished_) {
    fn(outcome_.reason);
    return;
  }
  close_hooks_.push_back(std::move(fn));
}

void Exchange::add_finish_hook(Function<void(Env&, const Outcome&)> fn) {
  if (finished_) {
    fn(env, outcome_);
    return;
  }
  finish_hooks_.push_back(std::move(fn));
}

void Exchange::attach_body(BodyState* b) noexcept {
  body_ = Ref<BodyState>(b);
}

bool Exchange::abandon(CloseReason why, Response instead) {
  if (responded_ || finished_ || state_ != State::awaiting) return false;
  abandoned_ = true;
  auto hooks = std::move(close_hooks_);
  close_hooks_.clear();
  for (auto& h : hooks) {
    try {
      h(why);
    } catch (const std::exception& e) {
      internal_error(e.what());
    } catch (...) {
      internal_error("unknown exception in a close hook");
    }
  }
  return deliver(std::move(instead));
}

void Exchange::finish(CloseReason reason) {
  if (finished_) return;
  finished_ = true;
  if (state_ == State::awaiting && !responded_ && counters_)
    counters_->awaiting.fetch_sub(1, std::memory_order_relaxed);
  state_ = State::done;
  gone_.store(true, std::memory_order_release);
  outcome_.reason = reason;
  outcome_.duration = loop_->now() - env.start_;
  if (body_) body_->close(reason);
  // Hooks run once and are dropped at once: their captures may hold handles (cycles).
  auto run_guarded = [this](auto&& fn) {
    try {
      fn();
    } catch (const std::exception& e) {
      internal_error(e.what());
    } catch (...) {
      internal_error("unknown exception in a close or finish hook");
    }
  };
  for (auto& h : close_hooks_)
    run_guarded([&] { h(reason); });
  close_hooks_.clear();
  // The request is over for its body too: the app hears why if it has not heard the end, and
  // its callbacks (which may hold this exchange's handles: cycles) are dropped.
  if (input_) {
    InputError why = reason == CloseReason::client_gone ? InputError::client_gone
                     : reason == CloseReason::timeout   ? InputError::timeout
                                                        : InputError::finished;
    run_guarded([&] { input_->close(why); });
  }
  for (auto& h : finish_hooks_)
    run_guarded([&] { h(env, outcome_); });
  finish_hooks_.clear();
  filters_.clear();
  sink_ = nullptr;
}

// ---- BodyState

BodyState::BodyState(Loop* loop) : loop_(loop) {
  if (loop_) home_ = loop_->handle();
}

BodyState::~BodyState() {
  if (counters_) counters_->bodies.fetch_sub(1, std::memory_order_relaxed);
}

void BodyState::last_ref_dropped(BodyState* b) noexcept {
  delete b;
}

std::string BodyState::run_filters(std::string_view chunk, bool last) {
  std::string out(chunk);
  for (auto& f : filters_)
    out = f(out, last);
  return out;
}

template <class S> bool BodyState::write_impl(S&& bytes) {
  if (ended_) {
    report_lint({"4.6", "a body was written after succeed() or fail()"});
    return false;
  }
  if (is_closed()) return false;
  if (!ex_) {
    pending_.emplace_back(std::forward<S>(bytes));
    return true;
  }
  Sink* sink = ex_->sink();
  if (!sink) return false;
  if (!filters_.empty()) {
    std::string out = run_filters(bytes, false);
    if (!out.empty()) sink->body_write(*ex_, std::move(out));
  } else if (bytes.size() > 0) {
    sink->body_write(*ex_, std::forward<S>(bytes));
  }
  bool ok = writable();
  if (!ok) want_drain_ = true;
  remember();
  return ok;
}

bool BodyState::write(std::string_view bytes) {
  return write_impl(bytes);
}
bool BodyState::write(std::string&& bytes) {
  return write_impl(std::move(bytes));
}

void BodyState::end(bool ok) {
  if (ended_) return;
  ended_ = true; // also after the client left: a write after this is the app's error (4.6)
  if (is_closed()) return;
  ok_ = ok;
  if (!ex_ || !ex_->sink()) return; // attach() finishes the job
  Exchange& ex = *ex_;
  if (ok && !filters_.empty()) {
    std::string tail = run_filters({}, true);
    if (!tail.empty()) ex.sink()->body_write(ex, std::move(tail));
  }
  if (ex.sink()) ex.sink()->body_end(ex, ok);
}

void BodyState::attach(Exchange& ex) {
  ex_ = &ex;
  if (!counters_ && (counters_ = ex.counters()))
    counters_->bodies.fetch_add(1, std::memory_order_relaxed);
  if (!loop_) {
    loop_ = ex.loop();
    home_ = ex.home();
  }
  if (Sink* sink = ex.sink()) seen_high_water_.store(sink->high_water(), std::memory_order_relaxed);
  ex.attach_body(this);
  std::vector<std::string> pending = std::move(pending_);
  pending_.clear();
  for (std::string& chunk : pending) {
    if (is_closed() || !ex_) return;
    Sink* sink = ex_->sink();
    if (!sink) return;
    if (filters_.empty()) {
      sink->body_write(*ex_, std::move(chunk));
    } else if (std::string out = run_filters(chunk, false); !out.empty()) {
      sink->body_write(*ex_, std::move(out));
    }
  }
  if (ended_ && !is_closed() && ex_ && ex_->sink()) {
    ended_ = false; // let end() run now that the body is attached
    end(ok_);
  }
}

bool BodyState::writable() const noexcept {
  if (is_closed() || ended_) return false;
  if (!ex_ || !ex_->sink()) return !is_closed();
  return ex_->sink()->buffered() < ex_->sink()->high_water();
}

std::size_t BodyState::buffered() const noexcept {
  return (ex_ && ex_->sink()) ? ex_->sink()->buffered() : 0;
}

void BodyState::remember() noexcept {
  seen_writable_.store(writable(), std::memory_order_relaxed);
  seen_buffered_.store(buffered(), std::memory_order_relaxed);
}

bool BodyState::writable_seen() const noexcept {
  if (is_closed() || !seen_writable_.load(std::memory_order_relaxed)) return false;
  std::ptrdiff_t posted = posted_.load(std::memory_order_relaxed);
  return posted <= 0 || static_cast<std::size_t>(posted) + buffered_seen() <
                            seen_high_water_.load(std::memory_order_relaxed);
}

void BodyState::drained() {
  remember();
  if (!want_drain_ || is_closed()) return;
  want_drain_ = false;
  if (on_drain_) on_drain_();
}

void BodyState::set_on_close(Function<void(CloseReason)> fn) {
  if (is_closed()) return;
  on_close_ = std::move(fn);
}

void BodyState::close(CloseReason reason) {
  if (closed_.exchange(true, std::memory_order_acq_rel)) return;
  if (counters_) counters_->bodies.fetch_sub(1, std::memory_order_relaxed);
  counters_ = nullptr;
  ex_ = nullptr;
  pending_.clear();
  Function<void(CloseReason)> fn = std::move(on_close_);
  on_drain_.reset(); // drop captures (they often hold this body's handle)
  filters_.clear();
  if (fn) fn(reason);
}

void BodyState::handle_released() noexcept {
  if (handles_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  if (is_closed() || ended_) return;
  auto check = [ref = Ref<BodyState>(this)] {
    if (ref->handles_.load(std::memory_order_acquire) != 0 || ref->is_closed() || ref->ended_)
      return;
    report_lint({"4.7", "a deferrable body was dropped without succeed() or fail(); failing it"});
    ref->end(false);
  };
  if (on_loop())
    check();
  else
    home_.post(std::move(check));
}

// ---- SocketState

SocketState::SocketState(Loop* loop, SocketSink* sink, LiveCounters* counters)
    : loop_(loop), home_(loop->handle()), sink_(sink), counters_(counters) {
  if (counters_) counters_->sockets.fetch_add(1, std::memory_order_relaxed);
}

SocketState::~SocketState() {
  if (counters_) counters_->sockets.fetch_sub(1, std::memory_order_relaxed);
}

void SocketState::deliver_data(std::string_view bytes) {
  if (is_closed()) return;
  if (on_data)
    on_data(bytes);
  else
    early_data.append(bytes);
}

void SocketState::drained() {
  if (!want_drain_ || is_closed()) return;
  want_drain_ = false;
  if (on_drain) on_drain();
}

void SocketState::stopping() {
  if (is_closed()) return;
  if (on_stop)
    on_stop();
  else
    close(false);
}

void SocketState::closed(CloseReason reason) {
  if (closed_.exchange(true, std::memory_order_acq_rel)) return;
  if (counters_) counters_->sockets.fetch_sub(1, std::memory_order_relaxed);
  counters_ = nullptr;
  sink_ = nullptr;
  Function<void(CloseReason)> fn = std::move(on_close);
  on_data.reset();
  on_drain.reset();
  on_stop.reset();
  early_data.clear();
  if (fn) fn(reason);
}

template <class S> bool SocketState::write_impl(S&& bytes) {
  if (is_closed() || !sink_) return false;
  bool ok = sink_->sock_write(std::forward<S>(bytes));
  if (!ok) want_drain_ = true;
  return ok;
}

bool SocketState::write(std::string_view bytes) {
  return write_impl(bytes);
}
bool SocketState::write(std::string&& bytes) {
  return write_impl(std::move(bytes));
}

void SocketState::close(bool abort) {
  if (!is_closed() && sink_) sink_->sock_close(abort);
}

void SocketState::pause(bool paused) {
  if (!is_closed() && sink_) sink_->sock_pause(paused);
}

std::size_t SocketState::buffered() const noexcept {
  return sink_ ? sink_->sock_buffered() : 0;
}
std::size_t SocketState::high_water() const noexcept {
  return sink_ ? sink_->sock_high_water() : 0;
}

bool SocketState::charge(std::ptrdiff_t bytes) {
  if (bytes < 0 && static_cast<std::size_t>(-bytes) > charged_)
    charged_ = 0;
  else
    charged_ = static_cast<std::size_t>(static_cast<std::ptrdiff_t>(charged_) + bytes);
  return !sink_ || sink_->sock_charged();
}

std::size_t SocketState::budget() const noexcept {
  return sink_ ? sink_->sock_budget() : 0;
}

} // namespace lithe::detail
