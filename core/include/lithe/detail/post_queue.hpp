// The cross-thread half of a Loop (SPEC 5.6): tasks posted from any thread wait here until
// the loop takes them; once the loop has ended, posting fails. Both backends' loops use it.
#pragma once

#include <lithe/function.hpp>

#include <mutex>
#include <vector>

namespace lithe::detail {

class PostQueue {
public:
  /// Queues fn from any thread. False, and fn destroyed, once closed. `wake` is set when the
  /// loop needs waking (the first post since it last took the queue).
  bool push(Task fn, bool& wake) {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    queued_.push_back(std::move(fn));
    wake = !wake_pending_;
    wake_pending_ = true;
    return true;
  }
  /// On the loop thread: moves what is queued into `out` (which should be empty).
  void take(std::vector<Task>& out) {
    std::lock_guard lock(mu_);
    out.swap(queued_);
    wake_pending_ = false;
  }
  /// Ends posting; returns what was still queued (to be destroyed, not run). False if it was
  /// already closed.
  bool close(std::vector<Task>& rest) {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    closed_ = true;
    rest.swap(queued_);
    return true;
  }

private:
  std::mutex mu_;
  std::vector<Task> queued_;
  bool wake_pending_ = false;
  bool closed_ = false;
};

} // namespace lithe::detail
