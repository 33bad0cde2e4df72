// The epoll event loop: EventMachine's reactor by hand (SPEC §5). One per worker thread:
// epoll_wait, core's timer queue, a next-tick queue, and an eventfd that wakes the loop for
// posts from other threads.
#pragma once

#include <lithe/detail/queue_loop.hpp>

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

class EpollLoop final : public detail::QueueLoop {
public:
  EpollLoop();
  ~EpollLoop() override;
  EpollLoop(const EpollLoop&) = delete;
  EpollLoop& operator=(const EpollLoop&) = delete;

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
};

} // namespace lithe::backend
