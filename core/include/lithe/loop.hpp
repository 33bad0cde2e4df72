// The event loop as the app sees it: EventMachine's reactor as an interface (SPEC §5).
// Each backend implements it; every callback of a connection runs on its loop's thread.
// Posting from other threads goes through a reference-counted queue, so a LoopHandle kept
// past the loop's end posts safely (the post fails) instead of touching freed memory.
#pragma once

#include <lithe/detail/ref.hpp>
#include <lithe/function.hpp>

#include <chrono>
#include <cstdint>
#include <vector>

namespace lithe {

namespace detail {
class PostQueue;
}
class ThreadPool;

using TimerId = std::uint64_t;
using Millis = std::chrono::milliseconds;

/// A thread-safe handle on a loop's post queue that may outlive the loop (SPEC 5.5): after
/// the loop ended, post() returns false and destroys the task on the calling thread.
class LoopHandle {
public:
  LoopHandle() noexcept;
  explicit LoopHandle(detail::PostQueue* q) noexcept;
  LoopHandle(const LoopHandle& o) noexcept;
  LoopHandle(LoopHandle&& o) noexcept;
  LoopHandle& operator=(LoopHandle o) noexcept;
  ~LoopHandle();
  /// Runs fn on the loop's thread. False, and fn destroyed, if the loop has ended.
  bool post(Task fn) const;
  /// True on the loop's own thread while it runs.
  bool in_loop_thread() const noexcept;
  explicit operator bool() const noexcept { return q_.get() != nullptr; }
  bool operator==(const LoopHandle& o) const noexcept { return q_.get() == o.q_.get(); }

private:
  detail::Ref<detail::PostQueue> q_;
};

class Loop {
public:
  virtual ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  /// Runs fn on this loop after the current callback returns (EM.next_tick). Loop thread only.
  virtual void next_tick(Task fn) = 0;
  /// Runs fn once after `delay` (EM.add_timer). Loop thread only. Returns an id for cancel.
  virtual TimerId add_timer(Millis delay, Task fn) = 0;
  /// Runs fn every `period` until cancelled (EM.add_periodic_timer). Loop thread only.
  virtual TimerId add_periodic_timer(Millis period, Task fn) = 0;
  /// Cancels a timer; false if it already ran (one-shot) or was unknown. Loop thread only.
  /// A periodic timer may cancel itself from its own callback.
  virtual bool cancel_timer(TimerId id) = 0;
  /// The loop's clock, read once per iteration (cheap; monotonic).
  virtual std::chrono::steady_clock::time_point now() const noexcept = 0;

  /// Runs fn on this loop's thread (EM.schedule). Safe from any thread. Returns false, and
  /// destroys fn, if the loop has stopped and will run nothing more.
  bool post(Task fn) { return handle_.post(std::move(fn)); }
  /// True on this loop's own thread.
  bool in_loop_thread() const noexcept { return handle_.in_loop_thread(); }
  /// A handle for posting that may be kept past this loop's life (threads, pools).
  const LoopHandle& handle() const noexcept { return handle_; }

  /// EM.defer: runs `work` on the server's thread pool, then `done` on this loop. Returns
  /// false, and runs neither, when the pool's queue is full, it has stopped, or the loop has
  /// none: the app answers that as an overload (503). If the loop has ended by the time the
  /// work is done, `done` is destroyed without running. Loop thread or any thread.
  bool defer(Task work, Task done);
  /// The pool defer() uses (the Server's; backends set it on each worker's loop).
  void set_thread_pool(ThreadPool* pool) noexcept { pool_ = pool; }
  ThreadPool* thread_pool() const noexcept { return pool_; }

  /// The loop running on the calling thread, or nullptr off any loop.
  static Loop* current() noexcept;

protected:
  Loop();
  /// Wakes the loop for posted work (from any thread). Called with the post queue locked;
  /// never called once close_posts() returned.
  virtual void wake() noexcept = 0;
  /// Backends call this on their thread when the loop starts and with nullptr when it ends.
  static void set_current(Loop* loop) noexcept;
  /// Makes the calling thread this loop's own (in_loop_thread()).
  void own_thread() noexcept;
  /// On the loop thread: the tasks posted since the last call.
  void take_posts(std::vector<Task>& out);
  /// Ends posting (later posts fail) and returns what was queued, to be destroyed, not run.
  /// Derived loops call it before they free what wake() uses.
  std::vector<Task> close_posts();
  /// Waits in real time until a post arrives or `deadline` (ManualLoop).
  bool wait_for_post(std::chrono::steady_clock::time_point deadline);

private:
  LoopHandle handle_;
  detail::PostQueue* queue_; // handle_'s, for the loop's own side
  ThreadPool* pool_ = nullptr;
};

} // namespace lithe
