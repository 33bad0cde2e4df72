// The cross-thread half of a Loop (SPEC 5.5-5.6): tasks posted from any thread wait here until
// the loop takes them. It is reference counted, so a handle that outlives its loop (a callback
// kept by a worker thread, a thread pool job) still posts safely: once the loop has ended,
// posting fails and the task is destroyed on the posting thread.
#pragma once

#include <lithe/detail/ref.hpp>
#include <lithe/function.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace lithe::detail {

class PostQueue : public RefCounted {
public:
  /// Wakes the loop. Called with the queue locked, so it never runs once close() returned:
  /// the loop may free what it wakes through right after closing.
  using Wake = void (*)(void* arg) noexcept;

  PostQueue(Wake wake, void* arg) noexcept : wake_(wake), wake_arg_(arg) {}

  /// Queues fn from any thread, waking the loop on the first post since it last took the
  /// queue. False, and fn destroyed here, once closed.
  bool push(Task fn) {
    {
      std::unique_lock lock(mu_);
      if (closed_) {
        lock.unlock();
        fn.reset(); // its captures let go outside the lock: they may post again
        return false;
      }
      queued_.push_back(std::move(fn));
      if (!wake_pending_) {
        wake_pending_ = true;
        if (wake_) wake_(wake_arg_);
      }
    }
    posted_.notify_all();
    return true;
  }
  /// On the loop thread: moves what is queued into `out` (which should be empty).
  void take(std::vector<Task>& out) {
    std::lock_guard lock(mu_);
    out.swap(queued_);
    wake_pending_ = false;
  }
  /// Waits (really) until something is queued, or `deadline` (ManualLoop's run_until).
  bool wait(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mu_);
    return posted_.wait_until(lock, deadline, [this] { return !queued_.empty() || closed_; }) &&
           !queued_.empty();
  }
  /// Ends posting: returns what was still queued (to be destroyed, not run). False if it was
  /// already closed. No wake call is made after this returns.
  bool close(std::vector<Task>& rest) {
    std::lock_guard lock(mu_);
    owner_.store(std::thread::id(), std::memory_order_release);
    if (closed_) return false;
    closed_ = true;
    wake_ = nullptr;
    rest.swap(queued_);
    return true;
  }
  bool closed() const {
    std::lock_guard lock(mu_);
    return closed_;
  }

  /// The loop's thread (none once closed): in_loop_thread() for handles of any age.
  void set_owner(std::thread::id id) noexcept { owner_.store(id, std::memory_order_release); }
  bool on_owner_thread() const noexcept {
    return owner_.load(std::memory_order_acquire) == std::this_thread::get_id();
  }

  static void last_ref_dropped(PostQueue* q) noexcept { delete q; }

private:
  mutable std::mutex mu_;
  std::condition_variable posted_;
  std::vector<Task> queued_;
  Wake wake_;
  void* wake_arg_;
  std::atomic<std::thread::id> owner_{};
  bool wake_pending_ = false;
  bool closed_ = false;
};

} // namespace lithe::detail
