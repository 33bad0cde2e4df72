#include <catch2/catch.hpp>
#include <lithe/manual_loop.hpp>

#include <string>
#include <thread>

using namespace lithe;

TEST_CASE("ManualLoop runs ticks, then timers in deadline order") {
  ManualLoop loop;
  std::string order;
  loop.add_timer(Millis(20), [&] { order += "b"; });
  loop.add_timer(Millis(10), [&] { order += "a"; });
  loop.next_tick([&] { order += "t"; });
  loop.advance(Millis(30));
  CHECK(order == "tab");
}

TEST_CASE("ManualLoop cancels timers, periodic ones from inside too") {
  ManualLoop loop;
  int once = 0, periodic = 0;
  TimerId t = loop.add_timer(Millis(10), [&] { ++once; });
  CHECK(loop.cancel_timer(t));
  CHECK_FALSE(loop.cancel_timer(t));
  TimerId p = 0;
  p = loop.add_periodic_timer(Millis(10), [&] {
    if (++periodic == 3) loop.cancel_timer(p);
  });
  loop.advance(Millis(100));
  CHECK(once == 0);
  CHECK(periodic == 3);
  CHECK(loop.pending_timers() == 0);
}

TEST_CASE("ManualLoop runs posts from other threads on its own thread") {
  ManualLoop loop;
  bool ran = false, on_loop = false;
  std::thread t([&] {
    loop.post([&] {
      ran = true;
      on_loop = loop.in_loop_thread();
    });
  });
  CHECK(loop.run_until([&] { return ran; }, Millis(1000)));
  t.join();
  CHECK(on_loop);
}
