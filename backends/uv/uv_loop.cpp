// UvLoop: next ticks in a check handle, timers in core's queue behind one uv_timer, posts
// through a uv_async.
#include "uv_loop.hpp"

#include <lithe/log.hpp>

#include <stdexcept>
#include <string>
#include <system_error>

namespace lithe::backend {

UvLoop::UvLoop() {
  if (int rc = uv_loop_init(&loop_); rc != 0)
    throw std::runtime_error(std::string("uv_loop_init: ") + uv_strerror(rc));
  loop_.data = this;
  uv_check_init(&loop_, &check_);
  check_.data = this;
  uv_check_start(&check_, on_check);
  uv_unref(reinterpret_cast<uv_handle_t*>(&check_));
  uv_idle_init(&loop_, &idle_);
  idle_.data = this;
  uv_async_init(&loop_, &async_, on_async);
  async_.data = this;
  uv_timer_init(&loop_, &timer_);
  timer_.data = this;
}

UvLoop::~UvLoop() {
  shut_down();
}

void UvLoop::next_tick(Task fn) {
  QueueLoop::next_tick(std::move(fn));
  // An active idle handle makes the next poll return at once, so the check phase comes soon.
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&idle_)))
    uv_idle_start(&idle_, [](uv_idle_t*) {});
}

std::chrono::steady_clock::time_point UvLoop::timer_base(Millis delay) noexcept {
  // libuv's clock counts whole milliseconds, cut down, and is cached: a timer of d ms from
  // it could fire up to 1 ms before d ms have passed. Refresh the clock and add the cut-off
  // millisecond, so a timer never fires early (SPEC 5.6; the epoll loop's clock is exact).
  uv_update_time(&loop_);
  return delay.count() > 0 ? now() + Millis(1) : now();
}

TimerId UvLoop::add_timer(Millis delay, Task fn) {
  TimerId id = timers_.add(timer_base(delay) + delay, std::move(fn));
  arm_timer();
  return id;
}

TimerId UvLoop::add_periodic_timer(Millis period, Task fn) {
  TimerId id = timers_.add_periodic(timer_base(period), period, std::move(fn));
  arm_timer();
  return id;
}

void UvLoop::arm_timer() noexcept {
  if (in_timers_ || ended_) return;
  auto next = timers_.next_deadline();
  if (timers_.empty()) {
    if (armed_ != next) uv_timer_stop(&timer_);
    armed_ = next;
    return;
  }
  if (next >= armed_) return; // set already, to fire no later
  armed_ = next;
  // The deadlines are whole milliseconds on libuv's clock (now() is uv_now).
  auto left = std::chrono::ceil<Millis>(next - now()).count();
  uv_timer_start(&timer_, on_timer, left > 0 ? static_cast<std::uint64_t>(left) : 0, 0);
}

void UvLoop::on_timer(uv_timer_t* handle) {
  auto* self = static_cast<UvLoop*>(handle->data);
  self->armed_ = std::chrono::steady_clock::time_point::max();
  self->in_timers_ = true;
  self->timers_.run_due(self->now());
  self->in_timers_ = false;
  if (self->timers_.next_deadline() <= self->now()) {
    // Armed by a callback and due at once: libuv 1.44 would run a timer set now in this same
    // pass, again and again. Set it after the poll instead (the idle handle keeps the poll
    // from blocking meanwhile), so it runs in the next iteration.
    self->rearm_ = true;
    uv_idle_start(&self->idle_, [](uv_idle_t*) {});
    return;
  }
  self->arm_timer();
}

void UvLoop::run_ticks() {
  QueueLoop::run_ticks();
  if (ticks_.empty()) uv_idle_stop(&idle_);
}

void UvLoop::on_check(uv_check_t* c) {
  auto* self = static_cast<UvLoop*>(c->data);
  if (self->rearm_) {
    self->rearm_ = false;
    self->arm_timer();
  }
  self->run_ticks();
}

void UvLoop::on_async(uv_async_t* a) {
  auto* self = static_cast<UvLoop*>(a->data);
  self->run_posts();
  self->run_ticks();
}

std::chrono::steady_clock::time_point UvLoop::now() const noexcept {
  // uv_now is CLOCK_MONOTONIC in milliseconds, read once per iteration: steady_clock's epoch.
  return std::chrono::steady_clock::time_point(std::chrono::milliseconds(uv_now(&loop_)));
}

void UvLoop::attach_thread() noexcept {
  own_thread();
  set_current(this);
}

void UvLoop::run() {
  attach_thread();
  uv_run(&loop_, UV_RUN_DEFAULT);
  set_current(nullptr);
}

void UvLoop::shut_down() {
  if (ended_) return;
  ended_ = true;
  std::vector<Task> posted = close_posts();
  // Destroyed, not run: their captures let go (an exchange returns to nothing, and frees).
  Loop* prev = Loop::current();
  set_current(this);
  posted.clear();
  ticks_.clear();
  timers_.clear();
  for (auto* h : {reinterpret_cast<uv_handle_t*>(&check_), reinterpret_cast<uv_handle_t*>(&idle_),
                  reinterpret_cast<uv_handle_t*>(&async_), reinterpret_cast<uv_handle_t*>(&timer_)})
    if (!uv_is_closing(h)) uv_close(h, nullptr);
  uv_walk(
      &loop_,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT); // runs the close callbacks
  if (int rc = uv_loop_close(&loop_); rc != 0)
    log_error(std::string("uv_loop_close: ") + uv_strerror(rc));
  set_current(prev);
}

} // namespace lithe::backend
