// Input and the state behind a streamed request body (SPEC 2.12): bytes pushed by the engine
// as they are parsed, handed to the app by push callbacks, one-shot reads or a coroutine,
// always on the next loop turn (never inside the call that registered for them), with
// backpressure: the engine reads on only while fewer than the high-water mark wait unread.
#include <lithe/co.hpp>
#include <lithe/detail/exchange.hpp>
#include <lithe/detail/input_stream.hpp>
#include <lithe/env.hpp>
#include <lithe/lint.hpp>

#include <algorithm>
#include <utility>

namespace lithe {

std::string_view to_string(InputError e) noexcept {
  switch (e) {
  case InputError::none:
    return "none";
  case InputError::too_large:
    return "the body is larger than allowed";
  case InputError::timeout:
    return "the client stopped sending the body";
  case InputError::client_gone:
    return "the client closed the connection";
  case InputError::malformed:
    return "the body's chunked framing is malformed";
  case InputError::finished:
    return "the response finished before the body was read";
  }
  return "unknown";
}

// ---- Input (the handle in Env)

detail::InputStream& Input::ensure() {
  if (!s_) {
    // The body is whole in env.body(): a stream that holds it and has ended, so code written
    // for streamed bodies reads it the same way.
    detail::Exchange* ex = env_->exchange();
    std::string_view body = env_->body();
    s_ = &ex->open_input(nullptr, body.size(), UINT64_MAX, false);
    s_->push(body);
    s_->finish(InputError::none);
  }
  return *s_;
}

bool Input::streaming() const noexcept {
  return s_ && s_->streamed();
}
std::optional<std::uint64_t> Input::length() const noexcept {
  return s_ ? s_->length() : std::optional<std::uint64_t>(env_->body().size());
}
std::uint64_t Input::received() const noexcept {
  return s_ ? s_->received() : env_->body().size();
}
bool Input::ended() const noexcept {
  return !s_ || s_->ended();
}
InputError Input::error() const noexcept {
  return s_ ? s_->error() : InputError::none;
}
void Input::set_limit(std::uint64_t bytes) noexcept {
  if (s_) s_->set_limit(bytes);
}
// The app's entry points: on the request's loop, before the response finished (SPEC 2.13).
detail::InputStream* Input::usable(const char* what) {
  detail::Exchange* ex = env_->exchange();
  const char* wrong = nullptr;
  if (!ex || !ex->home().in_loop_thread())
    wrong = ") on a thread other than the request's loop; ignored";
  else if (ex->finished())
    wrong = ") after the response finished; ignored";
  if (!wrong) return &ensure();
  detail::report_lint({"2.13", std::string("the request body was read (") + what + wrong});
  return nullptr;
}

void Input::on_data(Function<void(std::string_view)> fn) {
  if (auto* s = usable("on_data")) s->on_data(std::move(fn));
}
void Input::on_end(Task fn) {
  if (auto* s = usable("on_end")) s->on_end(std::move(fn));
}
void Input::on_error(Function<void(InputError)> fn) {
  if (auto* s = usable("on_error")) s->on_error(std::move(fn));
}
void Input::pause() {
  if (auto* s = usable("pause")) s->pause();
}
void Input::resume() {
  if (auto* s = usable("resume")) s->resume();
}
void Input::read(Function<void(InputChunk)> fn) {
  if (auto* s = usable("read")) s->read(std::move(fn));
}

void Input::read_all(std::size_t max, Function<void(InputError)> done) {
  if (!usable("read_all")) return;
  if (!s_->streamed()) { // whole already (usable() gave it a stream that has ended)
    if (env_->body().size() > max) {
      done(InputError::too_large);
      return;
    }
    env_->exchange()->loop()->next_tick([fn = std::move(done)]() mutable { fn(InputError::none); });
    return;
  }
  if (ended()) { // streamed and over: a second gathering (a middleware after the router's)
    InputError e = error();
    if (e == InputError::none && env_->body().size() > max) e = InputError::too_large;
    if (e == InputError::too_large) {
      done(e);
      return;
    }
    env_->exchange()->loop()->next_tick([fn = std::move(done), e]() mutable { fn(e); });
    return;
  }
  detail::InputStream& s = *s_;
  s.set_limit(max);
  // Gathered in storage the env owns for the request, then shown as env.body().
  std::string& all = env_->keep_string();
  // Room for a declared length, but not more than a read's worth ahead of the bytes: a client
  // may declare what it never sends.
  if (auto n = s.length(); n && *n <= max)
    all.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(*n, 256 * 1024)));
  auto shared = std::make_shared<Function<void(InputError)>>(std::move(done));
  s.on_data([&all](std::string_view bytes) { all.append(bytes); });
  s.on_end([this, &all, shared] {
    env_->set_body(all);
    (*shared)(InputError::none);
  });
  s.on_error([shared](InputError e) { (*shared)(e); });
}

detail::InputStream* InputRead::stream() {
  return in_->usable("co_await read()");
}

} // namespace lithe

namespace lithe::detail {

InputStream::InputStream(Exchange& ex, InputSource* source, std::optional<std::uint64_t> length,
                         std::uint64_t limit, bool streamed) noexcept
    : ex_(&ex), source_(source), length_(length), limit_(limit), streamed_(streamed) {}

bool InputStream::full() const noexcept {
  return source_ && buf_.size() >= source_->input_high_water();
}

bool InputStream::push(std::string_view bytes) {
  if (ended_) return false;
  if (bytes.size() > limit_ - received_ || received_ > limit_) return false;
  received_ += bytes.size();
  buf_.append(bytes);
  schedule();
  return true;
}

void InputStream::finish(InputError e) {
  if (ended_) return;
  ended_ = true;
  error_ = e;
  if (e != InputError::none) {
    // What was not read is dropped: the body is over for the app.
    buf_.clear();
    buf_.shrink_to_fit();
  }
  schedule();
}

void InputStream::close(InputError e) {
  source_ = nullptr;
  if (!ended_) {
    ended_ = true;
    error_ = e;
  }
  buf_.clear();
  buf_.shrink_to_fit();
  // Whoever waits and has not heard the end (held unread, or its delivery still queued) hears
  // it now: the body is over for the app. Then every callback is dropped.
  const InputError why = error_ == InputError::none ? e : error_;
  const bool told = end_told_;
  end_told_ = true;
  Function<void(InputError)> on_error = told ? Function<void(InputError)>() : std::move(on_error_);
  Function<void(InputChunk)> reader = std::move(reader_);
  std::coroutine_handle<> waiter = std::exchange(waiter_, {});
  on_data_ = {};
  on_end_ = {};
  on_error_ = {};
  reader_ = {};
  if (reader) reader({{}, true, why});
  if (waiter) {
    *slot_ = {{}, true, why};
    waiter.resume();
  }
  if (on_error) on_error(why);
}

void InputStream::start_reading() {
  if (started_) return;
  started_ = true;
  if (source_) source_->input_started();
}

void InputStream::set_limit(std::uint64_t bytes) noexcept {
  limit_ = bytes;
}

void InputStream::on_data(Function<void(std::string_view)> fn) {
  on_data_ = std::move(fn);
  start_reading();
  schedule();
}

void InputStream::on_end(Task fn) {
  on_end_ = std::move(fn);
  schedule();
}

void InputStream::on_error(Function<void(InputError)> fn) {
  on_error_ = std::move(fn);
  schedule();
}

void InputStream::pause() {
  paused_ = true;
}

void InputStream::resume() {
  paused_ = false;
  schedule();
}

void InputStream::read(Function<void(InputChunk)> fn) {
  handed_.clear(); // the last piece's view ends here
  reader_ = std::move(fn);
  start_reading();
  schedule();
}

InputChunk InputStream::take() {
  if (!buf_.empty()) {
    handed_.clear();
    std::swap(buf_, handed_); // both keep their capacity: no allocation per piece
    if (source_ && buf_.empty()) source_->input_drained();
    return {handed_, false, InputError::none};
  }
  return {{}, true, error_};
}

bool InputStream::take_now(InputChunk& out) {
  handed_.clear();
  start_reading();
  if (buf_.empty() && !ended_) return false;
  out = take();
  return true;
}

void InputStream::wait(std::coroutine_handle<> h, InputChunk* slot) {
  waiter_ = h;
  slot_ = slot;
}

void InputStream::schedule() {
  if (scheduled_ || !ex_->loop()) return;
  scheduled_ = true;
  ex_->loop()->next_tick([hold = Ref<Exchange>(ex_), this] {
    scheduled_ = false;
    deliver();
  });
}

void InputStream::deliver() {
  if (delivering_) return;
  delivering_ = true;
  Ref<Exchange> hold(ex_); // a callback may end the request
  for (;;) {
    if (!buf_.empty()) {
      if (on_data_ && !paused_) {
        InputChunk c = take();
        on_data_(c.data);
        continue;
      }
      if (reader_) {
        Function<void(InputChunk)> r = std::exchange(reader_, {});
        r(take());
        continue;
      }
      if (waiter_) {
        *slot_ = take();
        std::exchange(waiter_, {}).resume();
        continue;
      }
      break;
    }
    if (!ended_) break;
    // Ended and nothing left: pull readers get the end; push callbacks hear it once.
    if (reader_) {
      Function<void(InputChunk)> r = std::exchange(reader_, {});
      r({{}, true, error_});
      continue;
    }
    if (waiter_) {
      *slot_ = {{}, true, error_};
      std::exchange(waiter_, {}).resume();
      continue;
    }
    if (!end_told_ && (on_end_ || on_error_)) {
      end_told_ = true;
      if (error_ == InputError::none) {
        if (Task f = std::exchange(on_end_, {})) f();
      } else if (auto f = std::exchange(on_error_, {})) {
        f(error_);
      }
      on_data_ = {};
      on_end_ = {};
      on_error_ = {};
    }
    break;
  }
  delivering_ = false;
}

} // namespace lithe::detail
