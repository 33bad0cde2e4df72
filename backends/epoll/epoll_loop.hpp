// The epoll event loop: EventMachine's reactor by hand (SPEC §5). One per worker thread:
// epoll_wait, core's timer queue, a next-tick queue, and an eventfd that wakes the loop for
// posts from other threads.
#pragma once

#include <lithe/detail/timer_queue.hpp>
#include <lithe/loop.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

namespace lithe::backend {

/// Something registered with the loop's epoll set (a listener, a connection, the wake fd).
class Watcher {
public:
  virtual void on_events(std::uint32_t events) = 0;

protected:
  ~Watcher() = default;
};

class EpollLoop final : public Loop {
public:
  EpollLoop();
  ~EpollLoop() override;
  EpollLoop(const EpollLoop&) = delete;
  EpollLoop& operator=(const EpollLoop&) = delete;

  // Loop
  void next_tick(Task fn) override;
  TimerId add_timer(Millis delay, Task fn) override;
  TimerId add_periodic_timer(Millis period, Task fn) override;
  bool cancel_timer(TimerId id) override;
  std::chrono::steady_clock::time_point now() const noexcept override { return now_; }

  bool add(int fd, std::uint32_t events, Watcher* w) noexcept;
  bool modify(int fd, std::uint32_t events, Watcher* w) noexcept;
  void remove(int fd) noexcept;

  /// Makes the calling thread this loop's own (Loop::current(), in_loop_thread()).
  void attach_thread() noexcept;
  /// Runs until exit() is called. `woke` runs each time the wait returns, before the events
  /// are dispatched; after each iteration `after` runs and returns true when it has more work
  /// ready, so the next wait does not block.
  void run(const std::function<void()>& woke, const std::function<bool()>& after);
  void exit() noexcept { exit_ = true; }
  /// Ends the loop's life: later posts fail, pending work is dropped (destroyed, not run).
  void shut_down();

private:
  void wake() noexcept override;
  int wait_timeout_ms() const noexcept;
  void run_ticks();
  void drain_posts();

  class Waker final : public Watcher {
  public:
    explicit Waker(EpollLoop& loop) noexcept : loop_(loop) {}
    void on_events(std::uint32_t) override { loop_.drain_posts(); }

  private:
    EpollLoop& loop_;
  };

  int epfd_ = -1;
  int wakefd_ = -1;
  Waker waker_{*this};
  bool exit_ = false;
  std::chrono::steady_clock::time_point now_;
  std::vector<Task> ticks_, running_ticks_;
  detail::TimerQueue timers_;
  std::vector<Task> running_posts_;
};

} // namespace lithe::backend
