// UvLoop: the Loop interface (SPEC §5) on one uv_loop_t. Timers are core's timer queue,
// driven by one uv_timer set to the earliest deadline; next-tick work runs in a uv_check (an
// idle handle keeps the poll from blocking while any is queued), and posts from other threads
// wake the loop through a uv_async.
#pragma once

#include <lithe/detail/queue_loop.hpp>

#include <chrono>
#include <uv.h>
#include <vector>

namespace lithe::backend {

class UvLoop final : public detail::QueueLoop {
public:
  UvLoop();
  ~UvLoop() override;
  UvLoop(const UvLoop&) = delete;
  UvLoop& operator=(const UvLoop&) = delete;

  // Loop: the queues' own, but for libuv's idle handle and timer, and libuv's clock.
  // (cancel_timer leaves timer_ set: if it was the earliest, on_timer finds nothing due and
  // sets it again.)
  void next_tick(Task fn) override;
  TimerId add_timer(Millis delay, Task fn) override;
  TimerId add_periodic_timer(Millis period, Task fn) override;
  std::chrono::steady_clock::time_point now() const noexcept override;

  uv_loop_t* raw() noexcept { return &loop_; }
  /// Makes the calling thread this loop's own (Loop::current(), in_loop_thread()).
  void attach_thread() noexcept;
  /// Runs until stop() is called.
  void run();
  void stop() noexcept { uv_stop(&loop_); }
  /// Ends the loop's life: later posts fail; queued work and timers are destroyed, not run;
  /// every handle is closed and the loop is run until they are.
  void shut_down();

private:
  void wake() noexcept override { uv_async_send(&async_); }
  static void on_timer(uv_timer_t* t);
  static void on_check(uv_check_t* c);
  static void on_async(uv_async_t* a);
  std::chrono::steady_clock::time_point timer_base(Millis delay) noexcept;
  void arm_timer() noexcept;
  void run_ticks(); // the queue's, then the idle handle stops once none is left

  uv_loop_t loop_{};
  uv_check_t check_{};
  uv_idle_t idle_{};
  uv_async_t async_{};
  uv_timer_t timer_{}; // set to the earliest deadline of timers_
  std::chrono::steady_clock::time_point armed_ = std::chrono::steady_clock::time_point::max();
  bool in_timers_ = false; // on_timer runs: it sets timer_ once they are done
  bool rearm_ = false;     // set timer_ in the check phase (see on_timer)
  bool ended_ = false;
};

} // namespace lithe::backend
