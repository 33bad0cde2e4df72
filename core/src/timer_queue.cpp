// TimerQueue: an indexed binary min-heap over reusable slots (SPEC 5.6).
#include <lithe/detail/timer_queue.hpp>

#include <algorithm>
#include <utility>

namespace lithe::detail {

namespace {

TimerId make_id(std::uint32_t slot, std::uint32_t gen) noexcept {
  return (static_cast<TimerId>(gen) << 32) | slot; // gen is never 0, so neither is the id
}

// Room for `need` elements, doubling: reserve(n) alone would reallocate on every add.
template <class V> void grow(V& v, std::size_t need) {
  if (v.capacity() < need) v.reserve(std::max({need, 2 * v.capacity(), std::size_t(16)}));
}

} // namespace

TimerQueue::~TimerQueue() {
  clear();
}

TimerId TimerQueue::add(TimePoint when, Task fn) {
  return arm(when, Millis(0), std::move(fn));
}

TimerId TimerQueue::add_periodic(TimePoint start, Millis period, Task fn) {
  if (period < Millis(1)) period = Millis(1);
  return arm(start + period, period, std::move(fn));
}

TimerId TimerQueue::arm(TimePoint when, Millis period, Task fn) {
  // Everything that may throw comes first, so a failed add leaves the queue as it was.
  grow(heap_, heap_.size() + 1);
  if (free_.empty()) {
    grow(free_, slots_.size() + 1); // free_slot never allocates: room for every slot
    slots_.emplace_back();
    free_.push_back(static_cast<std::uint32_t>(slots_.size() - 1));
  }
  const std::uint32_t slot = free_.back();
  free_.pop_back();
  Slot& s = slots_[slot];
  s.fn = std::move(fn);
  s.period = period;
  s.armed = true;
  ++live_;
  push({when, next_seq_++, slot});
  return make_id(slot, s.gen);
}

bool TimerQueue::cancel(TimerId id) {
  const auto slot = static_cast<std::uint32_t>(id);
  const auto gen = static_cast<std::uint32_t>(id >> 32);
  if (slot >= slots_.size()) return false;
  Slot& s = slots_[slot];
  if (s.gen != gen || !s.armed) return false;
  if (slot == running_) {
    if (running_cancelled_) return false;
    running_cancelled_ = true; // run_due frees it once the callback returns
    return true;
  }
  erase_at(s.pos);
  // The callable goes last: its destructor may arm or cancel timers, and finds the queue whole.
  Task doomed = std::move(s.fn);
  free_slot(slot);
  return true;
}

std::size_t TimerQueue::run_due(TimePoint now, std::size_t limit) {
  const std::uint64_t bound = next_seq_; // armed from here on: the next call's
  std::size_t ran = 0;
  while (ran < limit && !heap_.empty()) {
    const Entry top = heap_.front();
    if (top.when > now || top.seq >= bound) break;
    erase_at(0);
    Task fn = std::move(slots_[top.slot].fn);
    const Millis period = slots_[top.slot].period;
    ++ran;
    if (period.count() == 0) {
      free_slot(top.slot); // ran: cancelling it now, even from inside, says false
      fn();
      continue;
    }
    running_ = top.slot;
    running_cancelled_ = false;
    {
      // A callback that throws ends its timer (and the exception goes on to the loop).
      struct Guard {
        TimerQueue& q;
        std::uint32_t slot;
        bool ok = false;
        ~Guard() {
          if (ok) return;
          q.running_ = none;
          q.free_slot(slot);
        }
      } guard{*this, top.slot};
      fn(); // may arm timers: slots_ may move, so the slot is looked up again after
      guard.ok = true;
    }
    running_ = none;
    if (running_cancelled_) {
      free_slot(top.slot);
      continue; // fn is destroyed here, with the queue whole
    }
    slots_[top.slot].fn = std::move(fn);
    TimePoint next = top.when + period;
    if (next <= now) next = now + period; // late: keep going from now, no burst to catch up
    push({next, next_seq_++, top.slot});
  }
  return ran;
}

void TimerQueue::clear() {
  for (int round = 0; round < 8 && !heap_.empty(); ++round) {
    std::vector<Task> doomed;
    doomed.reserve(heap_.size());
    for (const Entry& e : heap_) {
      doomed.push_back(std::move(slots_[e.slot].fn));
      free_slot(e.slot);
    }
    heap_.clear();
    doomed.clear(); // may arm timers again: the next round takes them
  }
  if (running_ != none) running_cancelled_ = true; // cleared from inside its own callback
}

void TimerQueue::push(Entry e) {
  heap_.push_back(e);
  const auto pos = static_cast<std::uint32_t>(heap_.size() - 1);
  slots_[e.slot].pos = pos;
  sift_up(pos);
}

void TimerQueue::erase_at(std::uint32_t pos) noexcept {
  slots_[heap_[pos].slot].pos = none;
  const auto last = static_cast<std::uint32_t>(heap_.size() - 1);
  if (pos != last) {
    place(pos, heap_[last]);
    heap_.pop_back();
    // The moved entry may belong above or below where the erased one was.
    if (pos > 0 && before(heap_[pos], heap_[(pos - 1) / 2]))
      sift_up(pos);
    else
      sift_down(pos);
  } else {
    heap_.pop_back();
  }
}

void TimerQueue::sift_up(std::uint32_t pos) noexcept {
  const Entry e = heap_[pos];
  while (pos > 0) {
    const std::uint32_t parent = (pos - 1) / 2;
    if (!before(e, heap_[parent])) break;
    place(pos, heap_[parent]);
    pos = parent;
  }
  place(pos, e);
}

void TimerQueue::sift_down(std::uint32_t pos) noexcept {
  const Entry e = heap_[pos];
  const auto n = static_cast<std::uint32_t>(heap_.size());
  for (;;) {
    std::uint32_t child = 2 * pos + 1;
    if (child >= n) break;
    if (child + 1 < n && before(heap_[child + 1], heap_[child])) ++child;
    if (!before(heap_[child], e)) break;
    place(pos, heap_[child]);
    pos = child;
  }
  place(pos, e);
}

void TimerQueue::free_slot(std::uint32_t slot) noexcept {
  Slot& s = slots_[slot];
  s.armed = false;
  s.pos = none;
  s.period = Millis(0);
  if (++s.gen == 0) s.gen = 1;
  --live_;
  free_.push_back(slot); // never allocates: arm() keeps room for every slot
}

} // namespace lithe::detail
