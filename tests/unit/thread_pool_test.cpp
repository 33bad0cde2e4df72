// ThreadPool and Loop::defer (EM.defer, SPEC 5.8), and posting through a LoopHandle that
// outlives its loop (SPEC 5.5): bounded threads and queue, stop drops and joins, late posts
// fail safely.
#include <catch2/catch.hpp>
#include <lithe/lithe.hpp>
#include <lithe/manual_loop.hpp>
#include <lithe/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

using namespace lithe;
using namespace std::chrono_literals;

namespace {

/// A latch the test opens: jobs block on it so the pool's state can be observed.
struct Gate {
  std::atomic<bool> open{false};
  void wait() const {
    auto until = std::chrono::steady_clock::now() + 10s;
    while (!open && std::chrono::steady_clock::now() < until)
      std::this_thread::yield();
  }
};

template <class F> bool eventually(F f, std::chrono::milliseconds within = 5s) {
  auto until = std::chrono::steady_clock::now() + within;
  while (!f()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::yield();
  }
  return true;
}

/// Counts how many of these are alive, to see captures destroyed.
struct Alive {
  std::atomic<int>* n;
  explicit Alive(std::atomic<int>* c) : n(c) { ++*n; }
  Alive(const Alive& o) : n(o.n) { ++*n; }
  ~Alive() { --*n; }
};

} // namespace

TEST_CASE("A thread pool runs on at most its threads and refuses jobs past its queue") {
  ThreadPool pool({.threads = 2, .max_queued = 3});
  Gate gate;
  std::atomic<int> running{0}, most{0}, done{0};
  auto job = [&] {
    int now = ++running;
    for (int m = most; now > m && !most.compare_exchange_weak(m, now);)
      ;
    gate.wait();
    --running;
    ++done;
  };
  CHECK(pool.submit(job));
  CHECK(pool.submit(job));
  REQUIRE(eventually([&] { return pool.stats().busy == 2; }));
  CHECK(pool.submit(job)); // three wait for a thread
  CHECK(pool.submit(job));
  CHECK(pool.submit(job));
  CHECK_FALSE(pool.submit(job)); // the queue is full: refused, not queued
  CHECK(pool.stats().refused == 1);
  CHECK(pool.stats().queued == 3);
  gate.open = true;
  REQUIRE(eventually([&] { return done == 5; }));
  CHECK(most == 2);
  CHECK(pool.stats().threads == 2);
}

TEST_CASE("Stopping a thread pool drops the jobs that wait and joins the ones that run") {
  auto pool = std::make_unique<ThreadPool>(ThreadPoolOptions{.threads = 1, .max_queued = 8});
  Gate gate;
  std::atomic<int> alive{0};
  std::atomic<bool> first_done{false}, second_ran{false};
  pool->submit([&] {
    gate.wait();
    first_done = true;
  });
  REQUIRE(eventually([&] { return pool->stats().busy == 1; }));
  pool->submit([&second_ran, a = Alive(&alive)] { second_ran = true; });
  CHECK(alive == 1);
  std::thread opener([&] {
    std::this_thread::sleep_for(50ms); // the stop below must wait for the running job
    gate.open = true;
  });
  pool->stop();
  CHECK(first_done);                // joined after its job
  CHECK_FALSE(second_ran);          // dropped unrun...
  CHECK(alive == 0);                // ...and destroyed
  CHECK_FALSE(pool->submit([] {})); // a stopped pool refuses
  opener.join();
}

TEST_CASE("Loop::defer runs the work on the pool and then `done` on the loop") {
  ThreadPool pool({.threads = 1});
  ManualLoop loop;
  loop.set_thread_pool(&pool);
  std::thread::id worked_on, done_on;
  bool finished = false;
  REQUIRE(loop.defer([&] { worked_on = std::this_thread::get_id(); },
                     [&] {
                       done_on = std::this_thread::get_id();
                       finished = true;
                     }));
  REQUIRE(loop.run_until([&] { return finished; }, 0ms, 5s));
  CHECK(worked_on != std::this_thread::get_id());
  CHECK(done_on == std::this_thread::get_id());

  ManualLoop bare; // no pool: refused, nothing runs
  CHECK_FALSE(bare.defer([] {}, [] {}));
}

TEST_CASE("A post through a handle that outlived its loop fails and destroys the task") {
  std::atomic<int> alive{0};
  LoopHandle handle;
  {
    ManualLoop loop;
    handle = loop.handle();
    CHECK(handle.post([a = Alive(&alive)] {})); // queued, never run: destroyed with the loop
    CHECK(alive == 1);
  }
  CHECK(alive == 0);
  std::thread other([&] {
    CHECK_FALSE(handle.post([a = Alive(&alive)] {}));
    CHECK_FALSE(handle.in_loop_thread());
  });
  other.join();
  CHECK(alive == 0);
}

TEST_CASE("Work that finishes after its loop ended drops its `done` safely") {
  ThreadPool pool({.threads = 1});
  Gate gate;
  std::atomic<int> alive{0};
  bool done_ran = false;
  {
    ManualLoop loop;
    loop.set_thread_pool(&pool);
    REQUIRE(loop.defer([&] { gate.wait(); }, [&done_ran, a = Alive(&alive)] { done_ran = true; }));
  }
  gate.open = true;
  pool.stop(); // joins the job, whose post fails
  CHECK_FALSE(done_ran);
  CHECK(alive == 0);
}
