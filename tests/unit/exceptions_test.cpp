// SPEC 1.4: whatever an app throws, std::exception or not (`throw 42;`), is caught, logged and
// answered with the one shared 500 (lithe::internal_server_error()), never the end of a worker.
#include <catch2/catch.hpp>
#include <lithe/lithe.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace lithe;
using namespace std::chrono_literals;

namespace {

// The error log, to see that a failure was logged (and to keep the test output quiet). Pool
// threads log too, hence the lock.
struct LogCapture {
  std::mutex lock;
  std::vector<std::string> lines;
  LogCapture() {
    set_error_log([this](std::string_view line) {
      std::lock_guard g(lock);
      lines.emplace_back(line);
    });
  }
  ~LogCapture() { set_error_log(nullptr); }
  bool has(std::string_view text) {
    std::lock_guard g(lock);
    for (const auto& l : lines)
      if (l.find(text) != std::string::npos) return true;
    return false;
  }
};

// The response is the shared 500, byte for byte.
void check_shared_500(const MockResponse& r) {
  Response shared = internal_server_error();
  CHECK(r.status == 500);
  CHECK(r.status == shared.status);
  CHECK(r.header("Content-Type") == shared.headers.get("content-type"));
  CHECK(r.body == shared.body.to_string());
}

} // namespace

TEST_CASE("The shared 500 is plain text that says Internal Server Error") {
  Response r = internal_server_error();
  CHECK(r.status == 500);
  CHECK(r.headers.get("content-type") == "text/plain");
  CHECK(r.body.to_string() == "Internal Server Error\n");
}

TEST_CASE("An app that throws something other than a std::exception is answered the shared 500") {
  LogCapture log;
  check_shared_500(MockRequest([](Env&) -> Response { throw 42; }).get("/"));
  CHECK(log.has("unknown exception"));
  check_shared_500(MockRequest([](Env&) -> Response { throw std::runtime_error("x"); }).get("/"));
}

TEST_CASE("A response filter that throws anything turns the late response into the shared 500") {
  LogCapture log;
  App app = [](Env& env) -> Response {
    env.loop().next_tick([cb = env.async_callback()] { cb({200, {}, "fine"}); });
    return env.then(async, [](Env&, Response) -> Response { throw 42; });
  };
  check_shared_500(MockRequest(app).get("/"));
}

TEST_CASE("A coroutine handler that throws anything after suspending is answered the shared 500") {
  LogCapture log;
  MockRequest m(co_app([](Env&) -> Co<Response> {
    co_await sleep(1ms);
    throw 42;
    co_return Response(200);
  }));
  check_shared_500(m.get("/"));
  CHECK(log.has("not a std::exception"));

  MockRequest threaded(co_app([](Env&) -> Co<Response> {
    co_await in_thread([]() -> int { throw 42; }); // rethrown on the loop, escapes the handler
    co_return Response(200);
  }));
  check_shared_500(threaded.get("/"));
}

TEST_CASE("A streaming body whose function throws anything is failed: the client sees it cut") {
  LogCapture log;
  auto r = MockRequest([](Env&) -> Response {
             return {200, {}, stream([](DeferrableBody out) {
                       out.write("partial");
                       throw 42;
                     })};
           }).get("/");
  CHECK(r.status == 200); // the head was out before the function ran
  CHECK(r.body == "partial");
  CHECK(r.finished);
  CHECK(r.reason == CloseReason::error);
  CHECK(log.has("streaming body threw (not a std::exception)"));
}

TEST_CASE("A close hook that throws anything while a response is abandoned is logged, and the "
          "replacement still goes out") {
  LogCapture log;
  auto r = MockRequest([](Env& env) -> Response {
             env.on_close([](CloseReason) { throw 42; });
             env.loop().add_timer(10ms, [&env, keep = env.async_callback()] {
               env.abandon(CloseReason::timeout, {503, {}, "gave up"});
             });
             return async;
           }).get("/");
  CHECK(r.status == 503);
  CHECK(r.body == "gave up");
  CHECK(log.has("unknown exception in a close hook"));
}

TEST_CASE("Deferred work and thread pool jobs that throw anything are logged and the pool lives") {
  LogCapture log;
  std::atomic<bool> done{false};
  MockRequest m([&done](Env& env) -> Response {
    env.loop().defer([] { throw 42; }, [&done] { done = true; });
    return {200};
  });
  CHECK(m.get("/").status == 200);
  CHECK(m.loop().run_until([&done] { return done.load(); }, std::chrono::milliseconds(5000)));
  CHECK(log.has("deferred work threw (not a std::exception)"));

  std::atomic<int> ran{0};
  {
    ThreadPool pool(ThreadPoolOptions{.threads = 1});
    CHECK(pool.submit([] { throw 42; }));
    CHECK(pool.submit([&ran] { ++ran; }));
    for (int i = 0; i < 500 && ran == 0; ++i)
      std::this_thread::sleep_for(2ms);
  }
  CHECK(ran == 1);
  CHECK(log.has("a thread pool job threw (not a std::exception)"));
}
