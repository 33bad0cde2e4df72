// What every Loop is made of besides its wait (SPEC §5): next-tick work, run in passes, posts
// from other threads, run in a batch, and core's timer queue read against the loop's cached
// clock. The epoll, uring and uv loops and ManualLoop derive from it and add their waiting,
// their wakeup and their I/O (uv also keeps its own clock, so it overrides the timers).
#pragma once

#include <lithe/detail/timer_queue.hpp>
#include <lithe/loop.hpp>

#include <chrono>
#include <vector>

namespace lithe::detail {

class QueueLoop : public Loop {
public:
  void next_tick(Task fn) override { ticks_.push_back(std::move(fn)); }
  TimerId add_timer(Millis delay, Task fn) override {
    return timers_.add(now_ + delay, std::move(fn));
  }
  TimerId add_periodic_timer(Millis period, Task fn) override {
    return timers_.add_periodic(now_, period, std::move(fn));
  }
  bool cancel_timer(TimerId id) override { return timers_.cancel(id); }
  std::chrono::steady_clock::time_point now() const noexcept override { return now_; }

protected:
  /// Runs the queued ticks and those they queue, in at most `passes` passes (the rest wait for
  /// the next turn, so a tick that queues itself cannot starve I/O). Returns the tasks run.
  std::size_t run_ticks(int passes = 16);
  /// Runs the tasks posted from other threads since the last call. Returns how many.
  std::size_t run_posts();

  std::chrono::steady_clock::time_point now_ = std::chrono::steady_clock::now();
  std::vector<Task> ticks_;
  TimerQueue timers_;

private:
  std::vector<Task> running_ticks_, running_posts_; // swapped: steady state allocates nothing
};

} // namespace lithe::detail
