// Coroutine handlers (lithe/co.hpp, SPEC §5.7) through MockRequest: virtual time, no socket.
#include <catch2/catch.hpp>
#include <lithe/lithe.hpp>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

using namespace lithe;
using namespace std::chrono_literals;

namespace {

Response text(std::string s) {
  return {200, {{"Content-Type", "text/plain"}}, std::move(s)};
}

Co<int> twice_later(int n) {
  co_await sleep(10ms);
  co_return 2 * n;
}

Co<void> nap() {
  co_await sleep(5ms);
}

/// Counts live frames: a local in a coroutine that is destroyed mid-way still runs its destructor.
struct Tracker {
  std::atomic<int>* live;
  explicit Tracker(std::atomic<int>* l) : live(l) { ++*live; }
  ~Tracker() { --*live; }
};

} // namespace

TEST_CASE("A coroutine handler that never suspends answers at once") {
  MockRequest req(
      co_app([](Env& env) -> Co<Response> { co_return text(std::string(env.path())); }));
  MockResponse r = req.get("/now");
  CHECK(r.status == 200);
  CHECK(r.body == "/now");
}

TEST_CASE("co_await sleep resumes on the loop after the time, and awaits compose") {
  MockRequest req(co_app([](Env&) -> Co<Response> {
    co_await sleep(1s);
    co_await nap();
    int v = co_await twice_later(21);
    co_return text("slept, then " + std::to_string(v));
  }));
  auto start = req.loop().now();
  MockResponse r = req.get("/");
  CHECK(r.body == "slept, then 42");
  CHECK(req.loop().now() - start >= 1015ms); // virtual time: 1 s + 5 ms + 10 ms
}

TEST_CASE("co_await in_thread runs blocking work off the loop and resumes with its result") {
  std::thread::id loop_thread;
  std::atomic<bool> ran_elsewhere{false};
  MockRequest req(co_app([&](Env&) -> Co<Response> {
    loop_thread = std::this_thread::get_id();
    std::string s = co_await in_thread([&] {
      ran_elsewhere = std::this_thread::get_id() != loop_thread;
      return std::string("computed");
    });
    CHECK(std::this_thread::get_id() == loop_thread); // back on the loop
    co_await in_thread([] {});                        // void works too
    co_return text(s);
  }));
  MockResponse r = req.get("/");
  CHECK(r.body == "computed");
  CHECK(ran_elsewhere);
}

TEST_CASE("An exception escaping a coroutine handler answers 500, before or after suspending") {
  MockRequest early(co_app([](Env&) -> Co<Response> {
    throw std::runtime_error("early");
    co_return text("never");
  }));
  CHECK(early.get("/").status == 500); // as from any handler (ShowExceptions sees this one)

  MockRequest late(co_app([](Env&) -> Co<Response> {
    co_await sleep(1ms);
    throw std::runtime_error("late");
    co_return text("never");
  }));
  CHECK(late.get("/").status == 500);

  MockRequest thread_error(co_app([](Env&) -> Co<Response> {
    try {
      co_await in_thread([]() -> int { throw std::runtime_error("in the thread"); });
    } catch (const std::runtime_error& e) {
      co_return text(std::string("caught: ") + e.what()); // rethrown on the loop, catchable
    }
    co_return text("never");
  }));
  CHECK(thread_error.get("/").body == "caught: in the thread");
}

TEST_CASE("A client that leaves while the coroutine sleeps destroys its frame there") {
  std::atomic<int> live{0};
  bool resumed = false;
  MockRequest req(co_app([&](Env&) -> Co<Response> {
    Tracker t(&live);
    co_await sleep(10s);
    resumed = true;
    co_return text("too late");
  }));
  MockOptions o;
  o.client_leaves_after = 50ms;
  MockResponse r = req.get("/", o);
  CHECK(r.status == 0); // no response: the client was gone first
  CHECK(r.reason == CloseReason::client_gone);
  CHECK(live == 0); // the frame's locals were destroyed at the suspension point
  CHECK(req.loop().pending_timers() == 0); // its timer was cancelled
  req.loop().advance(20s);
  CHECK_FALSE(resumed);
}

TEST_CASE("A client that leaves while the coroutine waits on a thread: the thread's result is "
          "dropped and the frame is gone") {
  std::atomic<int> live{0};
  std::atomic<bool> release{false};
  bool resumed = false;
  auto token = std::make_shared<int>(0);
  std::weak_ptr<int> watch = token; // expires when the thread's work and its post are gone
  MockRequest req(co_app([&](Env&) -> Co<Response> {
    Tracker t(&live);
    co_await in_thread([&release, token = std::move(token)] {
      while (!release)
        std::this_thread::yield();
    });
    resumed = true;
    co_return text("too late");
  }));
  MockOptions o;
  o.client_leaves_after = 1ms;
  MockResponse r = req.get("/", o);
  CHECK(r.reason == CloseReason::client_gone);
  CHECK(live == 0);
  release = true;
  CHECK(req.loop().run_until([&] { return watch.expired(); }, Millis(0), Millis(5000)));
  CHECK_FALSE(resumed); // the post arrived and found the frame gone
}

TEST_CASE("in_thread on a full thread pool throws lithe::Overloaded, which the handler may catch") {
  std::atomic<bool> release{false};
  MockRequest req(co_app([&](Env& env) -> Co<Response> {
    // Fill the mock's pool: both threads busy (a bounded wait for them to take their jobs),
    // then its queue, so the next job is refused.
    ThreadPool& pool = *env.loop().thread_pool();
    auto spin = [&release] {
      while (!release)
        std::this_thread::yield();
    };
    for (auto until = std::chrono::steady_clock::now() + 10s;
         pool.stats().busy < pool.options().threads && std::chrono::steady_clock::now() < until;) {
      pool.submit(spin);
      std::this_thread::yield();
    }
    while (pool.submit(spin))
      ;
    try {
      co_await in_thread([] { return 1; });
    } catch (const Overloaded& e) {
      co_return Response{503, {}, std::string(e.what())};
    }
    co_return text("never");
  }));
  MockResponse r = req.get("/");
  release = true;
  CHECK(r.status == 503);
  CHECK(r.body.find("thread pool") != std::string::npos);
}
