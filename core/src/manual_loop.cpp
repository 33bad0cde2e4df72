// ManualLoop: a virtual clock that jumps to the next timer when nothing else is ready.
#include <lithe/manual_loop.hpp>

#include <condition_variable>

namespace lithe {

ManualLoop::ManualLoop() = default;

ManualLoop::~ManualLoop() {
  // Destroyed, not run. Their destructors may post here again: later posts fail (destroyed
  // on the spot), and may queue ticks or timers: drain until quiet.
  std::vector<Task> posted = close_posts();
  posted.clear();
  for (int i = 0; i < 8 && !(ticks_.empty() && timers_.empty()); ++i) {
    std::vector<Task> ticks;
    ticks.swap(ticks_);
    ticks.clear();
    timers_.clear();
  }
}

bool ManualLoop::run_one_timer(std::chrono::steady_clock::time_point upto) {
  auto when = timers_.next_deadline();
  if (timers_.empty() || when > upto) return false;
  if (when > now_) now_ = when; // the virtual clock jumps to the timer
  timers_.run_due(now_, 1);
  return true;
}

std::size_t ManualLoop::run_ready() {
  Scope scope(*this);
  std::size_t ran = 0;
  for (;;) {
    std::size_t before = ran;
    ran += run_ticks(1);
    ran += run_posts();
    while (run_one_timer(now_))
      ++ran;
    if (ran == before) return ran;
  }
}

void ManualLoop::advance(Millis by) {
  Scope scope(*this);
  auto until = now_ + by;
  run_ready();
  while (run_one_timer(until))
    run_ready();
  now_ = until;
  run_ready();
}

bool ManualLoop::run_until(const std::function<bool()>& done, Millis limit, Millis real_wait) {
  Scope scope(*this);
  auto deadline = now_ + limit;
  auto real_deadline = std::chrono::steady_clock::now() + real_wait;
  while (!done()) {
    if (run_ready() > 0) continue;
    if (run_one_timer(deadline)) continue;
    // Nothing runs in virtual time: wait (really) for another thread's post.
    if (!wait_for_post(real_deadline)) break;
  }
  return done();
}

ManualLoop::Scope::Scope(ManualLoop& loop) noexcept : prev_(Loop::current()) {
  set_current(&loop);
}
ManualLoop::Scope::~Scope() {
  set_current(prev_);
}

} // namespace lithe
