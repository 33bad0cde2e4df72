// One timer queue for every loop (the epoll and uv backends, ManualLoop): what
// Loop::add_timer, add_periodic_timer and cancel_timer promise (SPEC 5.6), kept once. libuv's
// src/timer.c is the model: a binary min-heap ordered by deadline, ties broken by the order
// in which timers were armed.
#pragma once

#include <lithe/function.hpp>
#include <lithe/loop.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace lithe::detail {

/// The timers of one loop, used on its thread only. The queue keeps no clock: the loop passes
/// its own time in. Timers live in slots reused through a free list, and a TimerId names a
/// slot and its generation, so add and cancel allocate nothing once the queue has grown to its
/// working size, and a stale id (a timer that ran, or was cancelled) never names another.
class TimerQueue {
public:
  using TimePoint = std::chrono::steady_clock::time_point;

  TimerQueue() = default;
  TimerQueue(const TimerQueue&) = delete;
  TimerQueue& operator=(const TimerQueue&) = delete;
  ~TimerQueue();

  /// Arms `fn` to run once at `when` (or in the first run_due at or after it). Never 0.
  TimerId add(TimePoint when, Task fn);
  /// Arms `fn` to run at `start + period`, then every `period` (at least 1 ms) until
  /// cancelled. The cadence holds, but a late run does not try to catch up a backlog.
  TimerId add_periodic(TimePoint start, Millis period, Task fn);
  /// Cancels a timer: false if it already ran (a one-shot, even from inside its own
  /// callback), was cancelled, or is unknown. A periodic timer may cancel itself from its own
  /// callback (true the first time). The callable is destroyed before this returns, except a
  /// running one's, destroyed when it returns.
  bool cancel(TimerId id);

  /// The earliest deadline; TimePoint::max() when nothing is armed.
  TimePoint next_deadline() const noexcept {
    return heap_.empty() ? TimePoint::max() : heap_.front().when;
  }
  bool empty() const noexcept { return live_ == 0; }
  /// Timers armed and not cancelled (a periodic one counts while its callback runs).
  std::size_t size() const noexcept { return live_; }

  /// Runs the timers due at `now`, earliest first and equal deadlines in the order they were
  /// armed, at most `limit` of them. Timers armed while it runs (periodic re-arms too) wait for
  /// the next call, so a callback that arms a timer due at once cannot keep it spinning.
  /// Returns how many ran. Not reentrant (a callback must not call run_due).
  std::size_t run_due(TimePoint now, std::size_t limit = std::numeric_limits<std::size_t>::max());

  /// Destroys every timer's callable without running it (a loop ending). The destructors may
  /// arm or cancel timers: those are destroyed too, for a bounded number of rounds.
  void clear();

private:
  static constexpr std::uint32_t none = std::numeric_limits<std::uint32_t>::max();

  struct Slot {
    Task fn;
    Millis period{0};         // 0: one-shot
    std::uint32_t pos = none; // index in heap_; none when free or running
    std::uint32_t gen = 1;    // the high half of its TimerId; bumped when the slot is freed
    bool armed = false;       // in the heap, or its periodic callback is running
  };
  struct Entry {
    TimePoint when;
    std::uint64_t seq; // arming order: ties run first-armed first
    std::uint32_t slot;
  };

  TimerId arm(TimePoint when, Millis period, Task fn);
  static bool before(const Entry& a, const Entry& b) noexcept {
    return a.when < b.when || (a.when == b.when && a.seq < b.seq);
  }
  void push(Entry e);
  void erase_at(std::uint32_t pos) noexcept;
  void sift_up(std::uint32_t pos) noexcept;
  void sift_down(std::uint32_t pos) noexcept;
  void place(std::uint32_t pos, const Entry& e) noexcept {
    heap_[pos] = e;
    slots_[e.slot].pos = pos;
  }
  void free_slot(std::uint32_t slot) noexcept;

  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_;
  std::vector<Entry> heap_;
  std::uint64_t next_seq_ = 0;
  std::size_t live_ = 0;
  std::uint32_t running_ = none; // the periodic timer whose callback runs now
  bool running_cancelled_ = false;
};

} // namespace lithe::detail
