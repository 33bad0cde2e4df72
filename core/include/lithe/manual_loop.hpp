// A Loop with a virtual clock, run by hand: MockRequest's loop, and a test tool for code
// that takes a Loop. Time moves only when run_until/advance say so.
#pragma once

#include <lithe/detail/queue_loop.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

namespace lithe {

class ManualLoop final : public detail::QueueLoop {
public:
  ManualLoop();
  ~ManualLoop() override;

  /// Runs ready work (ticks, posts, due timers) until none is left. Returns tasks run.
  std::size_t run_ready();
  /// Runs work, jumping the clock to the next timer whenever nothing is ready, until `done`
  /// is true, the clock passed `limit`, or nothing is left to wait for. Posts from other
  /// threads are waited for up to `real_wait` of real time. Returns done().
  bool run_until(const std::function<bool()>& done, Millis limit, Millis real_wait = Millis(5000));
  /// Moves the clock forward, running what falls due on the way.
  void advance(Millis by);
  std::size_t pending_timers() const noexcept { return timers_.size(); }

  /// Makes this the current loop (Loop::current()) of the calling thread while alive.
  class Scope {
  public:
    explicit Scope(ManualLoop& loop) noexcept;
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

  private:
    Loop* prev_;
  };

private:
  void wake() noexcept override {} // run_until waits on the post queue itself
  bool run_one_timer(std::chrono::steady_clock::time_point upto);
};

} // namespace lithe
