// The backend conformance suite, part 2: async responses end to end (SPEC §4-§6) over real
// sockets on every backend: the sentinel answered from another thread, second and late calls,
// deferrable bodies with a length, backpressure, streaming bodies, and clients that vanish.
#include "support/backends.hpp"
#include "support/net_client.hpp"

#include <lithe/lint.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>

using namespace lithe;
using namespace lithe::test;

namespace {

/// Threads an app starts, joined when the test ends.
struct Threads {
  std::mutex mu;
  std::vector<std::thread> all;
  void spawn(std::function<void()> fn) {
    std::lock_guard lock(mu);
    all.emplace_back(std::move(fn));
  }
  void join() {
    std::lock_guard lock(mu);
    for (auto& t : all)
      if (t.joinable()) t.join();
  }
  ~Threads() { join(); }
};

template <class T> bool ready(std::future<T>& f, std::chrono::milliseconds within = 5s) {
  return f.wait_for(within) == std::future_status::ready;
}

} // namespace

TEMPLATE_TEST_CASE("The async callback answers from another thread and keep-alive goes on",
                   "[async]", LITHE_BACKENDS) {
  Threads threads;
  std::atomic<int> delivered{0};
  TestServer s(TestType::name, [&](Env& env) -> Response {
    threads.spawn([cb = env.async_callback(), n = std::string(env.query()), &delivered] {
      if (cb({200, {{"Content-Type", "text/plain"}}, "from a thread " + n})) ++delivered;
    });
    return async;
  });
  RawClient c(s.port());
  for (int i = 0; i < 3; ++i) {
    REQUIRE(c.send(get("/?" + std::to_string(i))));
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "from a thread " + std::to_string(i));
  }
  threads.join(); // each thread counts its delivery after the call returns
  CHECK(delivered == 3);
  CHECK(s.settles());
}

TEMPLATE_TEST_CASE("A second call, or a call after the client left, is harmless and says so",
                   "[async][lint]", LITHE_BACKENDS) {
  std::promise<AsyncCallback> held;
  std::promise<CloseReason> gone;
  bool first_hold = true;
  std::atomic<int> first_ok{0}, second_refused{0}; // Catch2 asserts on the test thread only
  TestServer s(TestType::name, [&](Env& env) -> Response {
    auto cb = env.async_callback();
    if (env.path() == "/twice") {
      if (cb({200, {}, "first"})) ++first_ok;
      if (!cb({200, {}, "second"})) ++second_refused; // before the first one went out
      return async;
    }
    if (first_hold) {
      first_hold = false;
      env.on_close([&gone](CloseReason why) { gone.set_value(why); });
      held.set_value(cb);
    }
    return async;
  });
  const std::size_t lint_before = lint_violation_count();
  {
    RawClient c(s.port());
    REQUIRE(c.send(get("/twice")));
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->body == "first");
    REQUIRE(c.send(get("/twice"))); // the connection is still good after the second call
    REQUIRE(c.read_response());
  }
  CHECK(first_ok == 2);
  CHECK(second_refused == 2);
  auto held_cb = held.get_future();
  auto gone_f = gone.get_future();
  {
    RawClient c(s.port());
    REQUIRE(c.send(get("/hold")));
    REQUIRE(ready(held_cb));
  } // the client leaves before the answer
  REQUIRE(ready(gone_f));
  CHECK(gone_f.get() == CloseReason::client_gone);
  AsyncCallback cb = held_cb.get();
  CHECK_FALSE(cb.pending());
  CHECK_FALSE(cb({200, {}, "too late"}));
  CHECK(lint_violation_count() >= lint_before + 2); // both second calls were reported
  cb = AsyncCallback();
  CHECK(s.settles());
}

TEMPLATE_TEST_CASE("A deferrable body with a Content-Length is held to it", "[async]",
                   LITHE_BACKENDS) {
  TestServer s(TestType::name, [](Env& env) -> Response {
    std::string_view p = env.path();
    std::size_t written = p == "/exact" ? 10 : p == "/short" ? 5 : 15;
    DeferrableBody body;
    env.loop().next_tick([body, written] {
      body.write(std::string(written, 'x'));
      body.succeed();
    });
    return {200, {{"Content-Length", "10"}}, body};
  });
  RawClient c(s.port());
  REQUIRE(c.send(get("/exact")));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->body == std::string(10, 'x'));
  CHECK_FALSE(r->chunked);

  REQUIRE(c.send(get("/short"))); // 5 of 10 bytes: the client must see it incomplete
  std::string got = c.read_bytes(1 << 20, 2s);
  CHECK(got.find("Content-Length: 10") != std::string::npos);
  CHECK(c.closed_by_peer());

  RawClient c2(s.port());
  REQUIRE(c2.send(get("/long"))); // 15 of 10 bytes: exactly 10 go out
  auto r2 = c2.read_response();
  REQUIRE(r2);
  CHECK(r2->body == std::string(10, 'x'));
  CHECK(s.settles());
}

TEMPLATE_TEST_CASE("A fast producer and a slow reader stay within the high-water mark",
                   "[async][backpressure]", LITHE_BACKENDS) {
  HttpOptions opts;
  opts.high_water = 64 * 1024;
  constexpr std::size_t chunk = 16 * 1024, total = 16 << 20;
  std::atomic<std::size_t> max_buffered{0}, drains{0};
  TestServer s(
      TestType::name,
      [&](Env&) -> Response {
        DeferrableBody body;
        auto sent = std::make_shared<std::size_t>(0);
        auto pump = std::make_shared<Task>();
        // Writes while the connection keeps up; otherwise waits for on_drain (SPEC 4.5).
        *pump = [body, sent, &max_buffered] {
          while (*sent < total) {
            bool more = body.write(std::string(chunk, static_cast<char>('a' + *sent / chunk % 26)));
            *sent += chunk;
            std::size_t b = body.buffered();
            if (b > max_buffered) max_buffered = b;
            if (!more) return;
          }
          body.succeed();
        };
        body.on_drain([pump, &drains] {
          ++drains;
          (*pump)();
        });
        body.on_close([pump](CloseReason) { *pump = nullptr; }); // breaks the cycle
        Loop::current()->next_tick([pump] { (*pump)(); });
        return {200, {{"Content-Type", "application/octet-stream"}}, body};
      },
      opts);
  RawClient c(s.port());
  REQUIRE(c.send(get("/")));
  std::size_t got = 0;
  std::string head;
  while (got < total) {
    std::string piece = c.read_bytes(32 * 1024, 5s);
    REQUIRE_FALSE(piece.empty());
    got += piece.size();
    std::this_thread::sleep_for(200us); // a slow reader, not a synchronisation
  }
  CHECK(drains > 0); // the producer did have to wait
  // and never ran ahead of the mark by more than the write that crossed it (plus the head
  // and chunk framing queued with it).
  CHECK(max_buffered <= opts.high_water + chunk + 512);
  CHECK(s.settles());
}

TEMPLATE_TEST_CASE("Streaming bodies end when their function returns, or at succeed with "
                   "keep_open, and learn when the client leaves",
                   "[async][stream]", LITHE_BACKENDS) {
  std::promise<CloseReason> left;
  std::vector<DeferrableBody> open_streams; // Sinatra's `connections << out` (loop thread)
  TestServer s(TestType::name, [&](Env& env) -> Response {
    if (env.path() == "/once")
      return {200, {}, stream([](DeferrableBody out) {
                out.write("a");
                out.write("b");
              })};
    if (env.path() == "/open")
      return {200,
              {},
              stream(
                  [](DeferrableBody out) {
                    out.write("now ");
                    Loop::current()->add_timer(Millis(20), [out] {
                      out.write("later");
                      out.succeed();
                    });
                  },
                  true)};
    return {200,
            {},
            stream(
                [&](DeferrableBody out) {
                  out.write("forever");
                  out.on_close([&left](CloseReason why) { left.set_value(why); });
                  open_streams.push_back(out);
                },
                true)};
  });
  RawClient c(s.port());
  REQUIRE(c.send(get("/once")));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->chunked);
  CHECK(r->body == "ab");
  REQUIRE(c.send(get("/open")));
  r = c.read_response();
  REQUIRE(r);
  CHECK(r->body == "now later");
  auto left_f = left.get_future();
  {
    RawClient f(s.port());
    REQUIRE(f.send(get("/forever")));
    std::string got;
    while (got.find("forever") == std::string::npos) {
      std::string piece = f.read_bytes(4096, 5s);
      if (piece.empty()) break;
      got += piece;
    }
    CHECK(got.find("forever") != std::string::npos);
  }
  REQUIRE(ready(left_f));
  CHECK(left_f.get() == CloseReason::client_gone);
  s.server().stop(); // the app's handles go before the vector they sit in
}

TEMPLATE_TEST_CASE("Hundreds of clients vanishing from async requests free everything",
                   "[async][leak]", LITHE_BACKENDS) {
  constexpr int n = 300;
  std::atomic<int> closed{0};
  TestServer s(TestType::name, [&closed](Env& env) -> Response {
    // An app that never answers by itself and frees its state when the client leaves.
    auto cb = std::make_shared<AsyncCallback>(env.async_callback());
    env.on_close([cb, &closed](CloseReason) {
      *cb = AsyncCallback();
      ++closed;
    });
    return async;
  });
  {
    std::vector<std::unique_ptr<RawClient>> clients;
    for (int i = 0; i < n; ++i) {
      clients.push_back(std::make_unique<RawClient>(s.port()));
      REQUIRE(clients.back()->send(get("/wait")));
    }
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (s.stats().awaiting < n && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(2ms);
    REQUIRE(s.stats().awaiting == n);
  }
  CHECK(s.settles());
  CHECK(closed == n);
  CHECK(s.stats().awaiting == 0);
  CHECK(s.stats().exchanges == 0);
}

TEMPLATE_TEST_CASE("Handles kept past the Server's life report it and free safely (SPEC 5.5)",
                   "[async]", LITHE_BACKENDS) {
  AsyncCallback kept_cb;
  DeferrableBody kept_body;
  std::atomic<int> taken{0};
  {
    TestServer s(TestType::name, [&](Env& env) -> Response {
      if (env.path() == "/cb") {
        kept_cb = env.async_callback();
        ++taken;
        return async;
      }
      DeferrableBody b;
      kept_body = b;
      ++taken;
      return {200, {}, b};
    });
    RawClient c1(s.port()), c2(s.port());
    REQUIRE(c1.send(get("/cb")));
    REQUIRE(c2.send(get("/body")));
    CHECK(c2.read_until("\r\n\r\n").find("200 OK") != std::string::npos);
    auto until = std::chrono::steady_clock::now() + 5s;
    while (taken < 2 && std::chrono::steady_clock::now() < until)
      std::this_thread::yield();
    REQUIRE(taken == 2);
  } // stopped and destroyed, loops and all, while another thread still holds the handles
  std::thread other([&] {
    CHECK_FALSE(kept_cb(Response{200, {}, "too late"}));
    CHECK_FALSE(kept_body.write(std::string_view("too late")));
    CHECK_FALSE(kept_body.writable());
    kept_body.succeed();
    kept_cb = AsyncCallback();
    kept_body = DeferrableBody(); // the last handles: their state is freed here (ASan checks)
  });
  other.join();
}
