// ManualLoop: a virtual clock that jumps to the next timer when nothing else is ready.
#include <lithe/manual_loop.hpp>

#include <condition_variable>

namespace lithe {

ManualLoop::ManualLoop() : now_(std::chrono::steady_clock::now()) {}

ManualLoop::~ManualLoop() {
  // Destroyed, not run. Their destructors may post here again: later posts fail (destroyed
  // on the spot), and may queue ticks or timers: drain until quiet.
  std::vector<Task> posted = close_posts();
  posted.clear();
  for (int i = 0; i < 8; ++i) {
    std::vector<Task> ticks;
    ticks.swap(ticks_);
    std::map<TimerId, Timer> timers = std::move(timers_);
    timers_.clear();
    queue_.clear();
    if (ticks.empty() && timers.empty()) break;
  }
}

void ManualLoop::next_tick(Task fn) {
  ticks_.push_back(std::move(fn));
}

TimerId ManualLoop::add_timer(Millis delay, Task fn) {
  TimerId id = next_id_++;
  timers_.emplace(id, Timer{std::move(fn), Millis(0)});
  queue_.emplace(now_ + delay, id);
  return id;
}

TimerId ManualLoop::add_periodic_timer(Millis period, Task fn) {
  if (period < Millis(1)) period = Millis(1);
  TimerId id = next_id_++;
  timers_.emplace(id, Timer{std::move(fn), period});
  queue_.emplace(now_ + period, id);
  return id;
}

bool ManualLoop::cancel_timer(TimerId id) {
  if (id == running_) {
    running_cancelled_ = true;
    return true;
  }
  if (timers_.erase(id) == 0) return false;
  for (auto it = queue_.begin(); it != queue_.end(); ++it)
    if (it->second == id) {
      queue_.erase(it);
      break;
    }
  return true;
}

bool ManualLoop::run_one_timer(std::chrono::steady_clock::time_point upto) {
  if (queue_.empty() || queue_.begin()->first > upto) return false;
  auto [when, id] = *queue_.begin();
  queue_.erase(queue_.begin());
  if (when > now_) now_ = when;
  auto it = timers_.find(id);
  if (it == timers_.end()) return true;
  Task fn = std::move(it->second.fn);
  Millis period = it->second.period;
  if (period.count() == 0) timers_.erase(it);
  running_ = id;
  running_cancelled_ = false;
  fn();
  running_ = 0;
  if (period.count() != 0) {
    auto again = timers_.find(id);
    if (running_cancelled_ || again == timers_.end()) {
      timers_.erase(id);
    } else {
      again->second.fn = std::move(fn);
      queue_.emplace(now_ + period, id);
    }
  }
  return true;
}

std::size_t ManualLoop::run_ready() {
  Scope scope(*this);
  std::size_t ran = 0;
  for (;;) {
    std::size_t before = ran;
    running_ticks_.swap(ticks_);
    for (Task& t : running_ticks_) {
      t();
      ++ran;
    }
    running_ticks_.clear();
    take_posts(running_posts_);
    for (Task& t : running_posts_) {
      t();
      ++ran;
    }
    running_posts_.clear();
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
