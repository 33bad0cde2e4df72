// The event loop as the app sees it: EventMachine's reactor as an interface (SPEC §5).
// Each backend implements it; every callback of a connection runs on its loop's thread.
#pragma once

#include <lithe/function.hpp>

#include <chrono>
#include <cstdint>

namespace lithe {

using TimerId = std::uint64_t;
using Millis = std::chrono::milliseconds;

class Loop {
public:
  virtual ~Loop() = default;

  /// Runs fn on this loop after the current callback returns (EM.next_tick). Loop thread only.
  virtual void next_tick(Task fn) = 0;
  /// Runs fn once after `delay` (EM.add_timer). Loop thread only. Returns an id for cancel.
  virtual TimerId add_timer(Millis delay, Task fn) = 0;
  /// Runs fn every `period` until cancelled (EM.add_periodic_timer). Loop thread only.
  virtual TimerId add_periodic_timer(Millis period, Task fn) = 0;
  /// Cancels a timer; false if it already ran (one-shot) or was unknown. Loop thread only.
  /// A periodic timer may cancel itself from its own callback.
  virtual bool cancel_timer(TimerId id) = 0;
  /// Runs fn on this loop's thread (EM.schedule). Safe from any thread. Returns false, and
  /// destroys fn, if the loop has stopped and will run nothing more.
  virtual bool post(Task fn) = 0;
  /// True on this loop's own thread.
  virtual bool in_loop_thread() const noexcept = 0;
  /// The loop's clock, read once per iteration (cheap; monotonic).
  virtual std::chrono::steady_clock::time_point now() const noexcept = 0;

  /// The loop running on the calling thread, or nullptr off any loop.
  static Loop* current() noexcept;

protected:
  /// Backends call this on their thread when the loop starts and with nullptr when it ends.
  static void set_current(Loop* loop) noexcept;
};

} // namespace lithe
