// QueueLoop: the ticks, posts and timers every loop has (detail/queue_loop.hpp).
#include <lithe/detail/queue_loop.hpp>

namespace lithe::detail {

std::size_t QueueLoop::run_ticks(int passes) {
  std::size_t ran = 0;
  for (int pass = 0; pass < passes && !ticks_.empty(); ++pass) {
    running_ticks_.swap(ticks_);
    for (Task& t : running_ticks_)
      t();
    ran += running_ticks_.size();
    running_ticks_.clear();
  }
  return ran;
}

std::size_t QueueLoop::run_posts() {
  take_posts(running_posts_);
  for (Task& t : running_posts_)
    t();
  const std::size_t ran = running_posts_.size();
  running_posts_.clear();
  return ran;
}

} // namespace lithe::detail
