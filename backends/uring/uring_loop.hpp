// The io_uring event loop (SPEC §5): one ring per worker thread, made on that thread
// (SINGLE_ISSUER, DEFER_TASKRUN where the kernel has them), core's timer queue with the nearest
// deadline as the wait's timeout, a next-tick queue, an eventfd read SQE that wakes the loop
// for posts from other threads, and the worker's provided buffer ring for multishot receives.
// Every turn submits what was queued and waits in one io_uring_enter.
#pragma once

#include <lithe/detail/timer_queue.hpp>
#include <lithe/loop.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <liburing.h>
#include <string>
#include <vector>

namespace lithe::backend {

/// Something with operations in the ring (a listener, a connection). An SQE's user_data is
/// the Completer's address with the operation's kind in its low three bits.
class Completer {
public:
  virtual void on_cqe(unsigned kind, int res, unsigned flags) = 0;

protected:
  ~Completer() = default;
};

class UringLoop final : public Loop {
public:
  /// The provided buffers: multishot receives take one per completion and give it back right
  /// after on_read, so an idle connection holds none (docs/backends.md).
  static constexpr unsigned buffer_count = 64;
  static constexpr unsigned buffer_size = 16 * 1024;
  static constexpr unsigned short buffer_group = 0;
  /// What one multishot receive may read before it ends (it is re-armed for the next
  /// turn): the bound on input read ahead, per turn, of a connection whose reading is paused.
  static constexpr unsigned multishot_limit = 4 * buffer_size;

  /// Whether the kernel takes multishot_limit (Linux 6.17 and later); learnt from the first
  /// receive it refuses, after which multishot receives run without it (docs/backends.md).
  bool multishot_limit_ok = true;

  UringLoop();
  ~UringLoop() override;
  UringLoop(const UringLoop&) = delete;
  UringLoop& operator=(const UringLoop&) = delete;

  // Loop
  void next_tick(Task fn) override;
  TimerId add_timer(Millis delay, Task fn) override;
  TimerId add_periodic_timer(Millis period, Task fn) override;
  bool cancel_timer(TimerId id) override;
  std::chrono::steady_clock::time_point now() const noexcept override { return now_; }

  /// Makes the ring and its buffer ring on the calling thread, which becomes the loop's own.
  /// False, with the reason in `why`, if the kernel refuses.
  bool open(std::string& why);
  /// A free SQE (submits what is queued when the ring is full). Never null.
  io_uring_sqe* sqe() noexcept;
  static std::uint64_t tag(Completer* c, unsigned kind) noexcept {
    return reinterpret_cast<std::uintptr_t>(c) | kind;
  }
  /// Cancels the operation whose user_data is `tag` (its CQE comes with -ECANCELED).
  void cancel(std::uint64_t tag) noexcept;
  /// Closes `fd` through the ring (no system call of its own).
  void close_fd(int fd) noexcept;

  const char* buffer(unsigned id) const noexcept { return bufs_ + std::size_t(id) * buffer_size; }
  /// Returns a provided buffer to the ring once its bytes were handed on.
  void give_back(unsigned id) noexcept;

  /// Runs until exit(). `woke` runs each time the wait returns, before completions are
  /// dispatched; `after` runs after each turn and returns true when it has more work ready,
  /// so the next wait does not block.
  void run(const std::function<void()>& woke, const std::function<bool()>& after);
  void exit() noexcept { exit_ = true; }
  /// Reaps completions (and runs `after`) until `done()` or `within` passed (the stop).
  void drain(const std::function<bool()>& done, const std::function<bool()>& after, Millis within);
  /// Submits what is queued (closes at the end).
  void submit() noexcept;
  /// Ends the loop's life: later posts fail, pending work is dropped (destroyed, not run).
  void shut_down();
  /// Tears the ring down: every operation still in it is cancelled and waited for, so what
  /// they point at may be freed after this.
  void close_ring() noexcept;

private:
  void wake() noexcept override;
  void arm_wake() noexcept;
  void reap();
  void run_ticks();
  void drain_posts();
  void turn(bool block, const std::function<void()>& woke);

  io_uring ring_{};
  bool ring_open_ = false;
  io_uring_buf_ring* br_ = nullptr;
  char* bufs_ = nullptr;
  std::size_t map_bytes_ = 0;
  int wakefd_ = -1;
  std::uint64_t wake_value_ = 0;
  bool exit_ = false;
  std::chrono::steady_clock::time_point now_;
  std::vector<Task> ticks_, running_ticks_;
  detail::TimerQueue timers_;
  std::vector<Task> running_posts_;
};

} // namespace lithe::backend
