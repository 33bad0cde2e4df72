// UvLoop: next ticks in a check handle, timers as uv_timers, posts through a uv_async.
#include "uv_loop.hpp"

#include <lithe/log.hpp>

#include <stdexcept>
#include <string>
#include <system_error>

namespace lithe::backend {

struct UvLoop::Timer {
  uv_timer_t handle;
  Task fn;
  TimerId id;
  bool periodic;
};

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
}

UvLoop::~UvLoop() {
  shut_down();
}

void UvLoop::next_tick(Task fn) {
  ticks_.push_back(std::move(fn));
  // An active idle handle makes the next poll return at once, so the check phase comes soon.
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&idle_)))
    uv_idle_start(&idle_, [](uv_idle_t*) {});
}

TimerId UvLoop::start_timer(Millis delay, Millis period, Task fn) {
  auto* t = new Timer{{}, std::move(fn), next_timer_++, period.count() > 0};
  uv_timer_init(&loop_, &t->handle);
  t->handle.data = t;
  timers_.emplace(t->id, t);
  auto ms = [](Millis m) { return static_cast<std::uint64_t>(m.count() < 0 ? 0 : m.count()); };
  // libuv counts in whole milliseconds, cut down, from a clock it caches: a timer of d ms
  // could fire up to 1 ms before d ms have passed. Refresh the clock and add the cut-off
  // millisecond, so a timer never fires early (SPEC 5.6; the epoll loop's clock is exact).
  uv_update_time(&loop_);
  uv_timer_start(&t->handle, on_timer, delay.count() > 0 ? ms(delay) + 1 : 0, ms(period));
  return t->id;
}

TimerId UvLoop::add_timer(Millis delay, Task fn) {
  return start_timer(delay, Millis(0), std::move(fn));
}

TimerId UvLoop::add_periodic_timer(Millis period, Task fn) {
  if (period < Millis(1)) period = Millis(1);
  return start_timer(period, period, std::move(fn));
}

void UvLoop::release(Timer* t) noexcept {
  // The Timer (and its callable) is freed in the close callback, never while it may run.
  uv_close(reinterpret_cast<uv_handle_t*>(&t->handle),
           [](uv_handle_t* h) { delete static_cast<Timer*>(h->data); });
}

bool UvLoop::cancel_timer(TimerId id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return false;
  Timer* t = it->second;
  timers_.erase(it);
  uv_timer_stop(&t->handle);
  release(t);
  return true;
}

void UvLoop::on_timer(uv_timer_t* handle) {
  auto* t = static_cast<Timer*>(handle->data);
  auto* self = static_cast<UvLoop*>(handle->loop->data);
  if (t->periodic) {
    t->fn(); // it may cancel itself: the Timer stays alive until its close callback
    return;
  }
  self->timers_.erase(t->id);
  Task fn = std::move(t->fn);
  self->release(t);
  fn();
}

void UvLoop::run_ticks() {
  // Ticks queued by ticks run in the same pass, up to a bound (then the next iteration).
  for (int round = 0; round < 16 && !ticks_.empty(); ++round) {
    running_ticks_.swap(ticks_);
    for (Task& t : running_ticks_)
      t();
    running_ticks_.clear();
  }
  if (ticks_.empty()) uv_idle_stop(&idle_);
}

void UvLoop::on_check(uv_check_t* c) {
  static_cast<UvLoop*>(c->data)->run_ticks();
}

void UvLoop::on_async(uv_async_t* a) {
  auto* self = static_cast<UvLoop*>(a->data);
  self->take_posts(self->running_posts_);
  for (Task& t : self->running_posts_)
    t();
  self->running_posts_.clear();
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
  for (auto& [id, t] : timers_) {
    uv_timer_stop(&t->handle);
    release(t);
  }
  timers_.clear();
  for (auto* h : {reinterpret_cast<uv_handle_t*>(&check_), reinterpret_cast<uv_handle_t*>(&idle_),
                  reinterpret_cast<uv_handle_t*>(&async_)})
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
