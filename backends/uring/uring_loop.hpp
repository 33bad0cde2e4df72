// The io_uring event loop (SPEC §5): one ring per worker thread, made on that thread
// (SINGLE_ISSUER, DEFER_TASKRUN where the kernel has them), core's timer queue with the nearest
// deadline as the wait's timeout, a next-tick queue, an eventfd read SQE that wakes the loop
// for posts from other threads, and the worker's two provided buffer rings (small and large
// buffers) for receives.
// Every turn submits what was queued and waits in one io_uring_enter.
#pragma once

#include <lithe/detail/queue_loop.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <liburing.h>
#include <string>
#include <vector>

namespace lithe::backend {

/// Handles a completion: `owner` is the SQE's user_data without its low three bits, which
/// are `kind`, the operation's. The backend's one function for every owner (a listener, a
/// connection), so that a connection carries no vtable for it (docs/backends.md).
using Dispatch = void (*)(void* owner, unsigned kind, int res, unsigned flags);

class UringLoop final : public detail::QueueLoop {
public:
  /// The provided buffers, two groups of 64 (docs/backends.md). A receive takes one per
  /// completion and gives it back right after on_read, so an idle connection holds none.
  /// Light connections read into the small ones, so that a turn of many small requests
  /// touches few pages; heavy senders (a read that filled a buffer) into the large ones.
  enum Group : unsigned short { small_group = 0, large_group = 1 };
  static constexpr unsigned buffer_count = 64;
  static constexpr unsigned buffer_size[2] = {1024, 16 * 1024};
  /// What one multishot receive may read before it ends (it is re-armed for the next
  /// turn): the bound on input read ahead, per turn, of a connection whose reading is paused.
  static constexpr unsigned multishot_limit = 64 * 1024;

  /// Whether the kernel takes multishot_limit (Linux 6.17 and later); learnt from the first
  /// receive it refuses, after which multishot receives run without it (docs/backends.md).
  bool multishot_limit_ok = true;

  UringLoop();
  ~UringLoop() override;
  UringLoop(const UringLoop&) = delete;
  UringLoop& operator=(const UringLoop&) = delete;

  /// Makes the ring and its buffer ring on the calling thread, which becomes the loop's own.
  /// False, with the reason in `why`, if the kernel refuses.
  bool open(std::string& why);
  /// A free SQE (submits what is queued when the ring is full). Never null.
  io_uring_sqe* sqe() noexcept;
  /// Where completions go; set before the first operation is queued.
  void set_dispatch(Dispatch d) noexcept { dispatch_ = d; }
  /// user_data for an operation of `owner` (8-byte aligned) of `kind` (1 to 6).
  static std::uint64_t tag(const void* owner, unsigned kind) noexcept {
    return reinterpret_cast<std::uintptr_t>(owner) | kind;
  }
  /// Cancels the operation whose user_data is `tag` (its CQE comes with -ECANCELED).
  void cancel(std::uint64_t tag) noexcept;
  /// Closes `fd` through the ring (no system call of its own).
  void close_fd(int fd) noexcept;

  const char* buffer(Group g, unsigned id) const noexcept {
    return groups_[g].bufs + std::size_t(id) * buffer_size[g];
  }
  /// Returns a provided buffer to its ring once its bytes were handed on.
  void give_back(Group g, unsigned id) noexcept;

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
  void turn(bool block, const std::function<void()>& woke);

  Dispatch dispatch_ = nullptr;
  io_uring ring_{};
  bool ring_open_ = false;
  struct Provided {
    io_uring_buf_ring* ring = nullptr;
    char* bufs = nullptr;
  };
  Provided groups_[2];
  void* map_ = nullptr; // both groups' rings and buffers
  std::size_t map_bytes_ = 0;
  int wakefd_ = -1;
  std::uint64_t wake_value_ = 0;
  bool exit_ = false;
};

} // namespace lithe::backend
