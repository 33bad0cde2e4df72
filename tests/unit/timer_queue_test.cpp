#include <catch2/catch.hpp>
#include <lithe/detail/timer_queue.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

using lithe::Millis;
using lithe::TimerId;
using lithe::detail::TimerQueue;
using Clock = std::chrono::steady_clock;

namespace {

const Clock::time_point t0 = Clock::time_point(std::chrono::hours(1));

Clock::time_point at(int ms) {
  return t0 + Millis(ms);
}

} // namespace

TEST_CASE("TimerQueue runs timers earliest first and only once due") {
  TimerQueue q;
  std::string order;
  q.add(at(30), [&] { order += "c"; });
  q.add(at(10), [&] { order += "a"; });
  q.add(at(20), [&] { order += "b"; });
  CHECK(q.size() == 3);
  CHECK(q.next_deadline() == at(10));
  CHECK(q.run_due(at(9)) == 0);
  CHECK(q.run_due(at(20)) == 2);
  CHECK(order == "ab");
  CHECK(q.next_deadline() == at(30));
  CHECK(q.run_due(at(100)) == 1);
  CHECK(order == "abc");
  CHECK(q.empty());
  CHECK(q.next_deadline() == Clock::time_point::max());
}

TEST_CASE("TimerQueue runs equal deadlines in the order they were armed") {
  TimerQueue q;
  std::string order;
  for (char c : std::string("abcdefghij"))
    q.add(at(5), [&order, c] { order += c; });
  q.add(at(1), [&] { order += "0"; });
  q.run_due(at(5));
  CHECK(order == "0abcdefghij");
}

TEST_CASE("TimerQueue runs at most `limit` timers per call") {
  TimerQueue q;
  int ran = 0;
  for (int i = 0; i < 3; ++i)
    q.add(at(1), [&] { ++ran; });
  CHECK(q.run_due(at(1), 1) == 1);
  CHECK(ran == 1);
  CHECK(q.run_due(at(1)) == 2);
  CHECK(ran == 3);
}

TEST_CASE("TimerQueue cancels a timer before it runs, and a second cancel says false") {
  TimerQueue q;
  int ran = 0;
  TimerId a = q.add(at(10), [&] { ++ran; });
  TimerId b = q.add(at(20), [&] { ++ran; });
  CHECK(a != 0);
  CHECK(a != b);
  CHECK(q.cancel(a));
  CHECK_FALSE(q.cancel(a));
  CHECK(q.size() == 1);
  CHECK(q.next_deadline() == at(20));
  q.run_due(at(100));
  CHECK(ran == 1);
  CHECK_FALSE(q.cancel(0));
  CHECK_FALSE(q.cancel(~TimerId(0)));
}

TEST_CASE("TimerQueue: cancelling a timer that already ran is harmless and says false") {
  TimerQueue q;
  int ran = 0;
  TimerId a = q.add(at(1), [&] { ++ran; });
  q.run_due(at(1));
  CHECK(ran == 1);
  CHECK_FALSE(q.cancel(a));
  // Its slot is reused by the next timer: the old id still names nothing.
  TimerId b = q.add(at(2), [&] { ++ran; });
  CHECK(b != a);
  CHECK_FALSE(q.cancel(a));
  CHECK(q.size() == 1);
  q.run_due(at(2));
  CHECK(ran == 2);
}

TEST_CASE("TimerQueue: a one-shot cancelling itself inside its callback has already run") {
  TimerQueue q;
  TimerId self = 0;
  bool cancelled = true;
  self = q.add(at(1), [&] { cancelled = q.cancel(self); });
  q.run_due(at(1));
  CHECK_FALSE(cancelled);
  CHECK(q.empty());
}

TEST_CASE("TimerQueue: a callback cancels a later timer, which then never runs") {
  TimerQueue q;
  std::string order;
  TimerId later = 0;
  q.add(at(1), [&] { CHECK(q.cancel(later)); });
  later = q.add(at(1), [&] { order += "later"; });
  q.add(at(2), [&] { order += "other"; });
  q.run_due(at(5));
  CHECK(order == "other");
  CHECK(q.empty());
}

TEST_CASE("TimerQueue re-arms a periodic timer at its cadence until it cancels itself") {
  TimerQueue q;
  std::vector<int> runs;
  TimerId p = 0;
  int now = 0;
  p = q.add_periodic(at(0), Millis(10), [&] {
    runs.push_back(now);
    if (runs.size() == 3) CHECK(q.cancel(p));
    if (runs.size() == 3) CHECK_FALSE(q.cancel(p)); // once
  });
  CHECK(q.next_deadline() == at(10));
  for (now = 1; now <= 100 && !q.empty(); ++now)
    q.run_due(at(now));
  CHECK(runs == std::vector<int>{10, 20, 30});
  CHECK(q.empty());
  CHECK_FALSE(q.cancel(p));
}

TEST_CASE("TimerQueue: a periodic timer run late goes on from then, without catching up") {
  TimerQueue q;
  int runs = 0;
  q.add_periodic(at(0), Millis(10), [&] { ++runs; });
  CHECK(q.run_due(at(35)) == 1); // three periods late: one run, not three
  CHECK(runs == 1);
  CHECK(q.next_deadline() == at(45));
  CHECK(q.run_due(at(44)) == 0);
  CHECK(q.run_due(at(45)) == 1);
  CHECK(q.next_deadline() == at(55)); // on time again: the cadence holds
}

TEST_CASE("TimerQueue: a periodic timer's period is at least 1 ms") {
  TimerQueue q;
  q.add_periodic(at(0), Millis(0), [] {});
  CHECK(q.next_deadline() == at(1));
}

TEST_CASE("TimerQueue: a timer armed by a callback, due at once, waits for the next call") {
  TimerQueue q;
  int chained = 0;
  std::function<void()> again = [&] {
    ++chained;
    q.add(at(1), [&] { again(); });
  };
  q.add(at(1), [&] { again(); });
  CHECK(q.run_due(at(1)) == 1); // no spin: the chain advances one step per call
  CHECK(chained == 1);
  CHECK(q.run_due(at(1)) == 1);
  CHECK(chained == 2);
  q.clear();
}

TEST_CASE("TimerQueue keeps working while callbacks add many timers (slots and heap grow)") {
  TimerQueue q;
  std::vector<int> order;
  q.add(at(0), [&] {
    for (int i = 100; i > 0; --i)
      q.add(at(i), [&order, i] { order.push_back(i); });
  });
  q.run_due(at(0));
  CHECK(q.size() == 100);
  q.run_due(at(200));
  REQUIRE(order.size() == 100);
  for (int i = 0; i < 100; ++i)
    CHECK(order[static_cast<std::size_t>(i)] == i + 1);
}

TEST_CASE("TimerQueue cancels from the middle of a large heap and keeps the order") {
  TimerQueue q;
  std::vector<int> order;
  std::vector<TimerId> ids;
  for (int i = 0; i < 200; ++i) {
    int when = (i * 37) % 200; // a shuffle of 0..199
    ids.push_back(q.add(at(when), [&order, when] { order.push_back(when); }));
  }
  for (std::size_t i = 0; i < ids.size(); i += 3)
    CHECK(q.cancel(ids[i]));
  q.run_due(at(1000));
  CHECK(order.size() == 200 - 67);
  for (std::size_t i = 1; i < order.size(); ++i)
    CHECK(order[i - 1] < order[i]);
}

TEST_CASE("TimerQueue::clear destroys callables without running them") {
  TimerQueue q;
  auto token = std::make_shared<int>(0);
  bool ran = false;
  q.add(at(1), [token, &ran] { ran = true; });
  q.add_periodic(at(0), Millis(5), [token, &ran] { ran = true; });
  CHECK(token.use_count() == 3);
  q.clear();
  CHECK(token.use_count() == 1);
  CHECK(q.empty());
  q.run_due(at(100));
  CHECK_FALSE(ran);
}
