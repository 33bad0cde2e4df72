// Token buckets: the arithmetic, the eviction bound, and the middleware's 429 and headers.
#include <lithe/lithe.hpp>
#include <lithe/mock_request.hpp>
#include <lithe/mw/rate_limit.hpp>

#include <catch2/catch.hpp>

using namespace lithe;
using Clock = std::chrono::steady_clock;

TEST_CASE("A bucket allows its burst at once, then one request per 1/rate seconds") {
  mw::RateTable t(2, 3, 100); // 2 per second, burst 3
  Clock::time_point now{};
  for (int i = 0; i < 3; ++i)
    CHECK(t.take("k", now).allowed);
  auto refused = t.take("k", now);
  CHECK_FALSE(refused.allowed);
  CHECK(refused.retry_after == Approx(0.5));
  CHECK(refused.reset == Approx(1.5));
  now += std::chrono::milliseconds(499);
  CHECK_FALSE(t.take("k", now).allowed);
  now += std::chrono::milliseconds(2);
  auto ok = t.take("k", now);
  CHECK(ok.allowed);
  CHECK(ok.remaining == Approx(0.0).margin(0.01));
  now += std::chrono::hours(1); // refills only up to the burst
  for (int i = 0; i < 3; ++i)
    CHECK(t.take("k", now).allowed);
  CHECK_FALSE(t.take("k", now).allowed);
}

TEST_CASE("Buckets of different keys are independent") {
  mw::RateTable t(1, 1, 100);
  Clock::time_point now{};
  CHECK(t.take("a", now).allowed);
  CHECK_FALSE(t.take("a", now).allowed);
  CHECK(t.take("b", now).allowed);
}

TEST_CASE("Keys beyond max_keys evict the least recently used: memory stays bounded") {
  mw::RateTable t(1, 1, 100);
  Clock::time_point now{};
  CHECK(t.take("keep", now).allowed);
  for (int i = 0; i < 10000; ++i) {
    t.take("rotating-" + std::to_string(i), now);
    if (i % 50 == 0) t.take("keep", now); // used often: stays
  }
  CHECK(t.size() == 100);
  CHECK(t.evicted() == 10000 + 1 - 100);
  CHECK_FALSE(t.take("keep", now).allowed); // its empty bucket was kept, not renewed
}

TEST_CASE("The middleware answers 429 after the burst, with Retry-After and RateLimit headers") {
  App ok = [](Env&) -> Response { return {200, {}, "ok"}; };
  MockRequest m(mw::rate_limit({.rate = 1, .burst = 2})(ok));
  auto first = m.get("/");
  CHECK(first.status == 200);
  CHECK(first.header("RateLimit-Limit") == "2");
  CHECK(first.header("RateLimit-Remaining") == "1");
  CHECK(m.get("/").status == 200);
  auto r = m.get("/");
  CHECK(r.status == 429);
  CHECK(r.header("Retry-After") == "1");
  CHECK(r.header("RateLimit-Remaining") == "0");
  CHECK(r.header("RateLimit-Reset") == "2");
  m.loop().advance(std::chrono::milliseconds(1000));
  CHECK(m.get("/").status == 200);
}

TEST_CASE("Only the requests the predicate picks take tokens; the key function picks buckets") {
  App ok = [](Env&) -> Response { return {200, {}, "ok"}; };
  MockRequest m(mw::rate_limit(
      {.rate = 1,
       .burst = 1,
       .key = [](const Env& e) { return std::string(e.header("X-User").value_or("anon")); },
       .counts = [](const Env& e) { return e.method() == "POST" && e.path() == "/login"; }})(ok));
  MockOptions alice, bob;
  alice.headers = {{"X-User", "alice"}};
  bob.headers = {{"X-User", "bob"}};
  CHECK(m.post("/login", "", alice).status == 200);
  CHECK(m.post("/login", "", alice).status == 429);
  CHECK(m.post("/login", "", bob).status == 200);
  CHECK(m.get("/login", alice).status == 200); // not counted
  CHECK(m.get("/login", alice).header("RateLimit-Limit") == std::nullopt);
}

TEST_CASE("A late response gets the RateLimit headers too") {
  App late = [](Env& env) -> Response {
    env.loop().add_timer(Millis(5), [cb = env.async_callback()] { cb({200, {}, "late"}); });
    return async;
  };
  MockRequest m(mw::rate_limit({.rate = 1, .burst = 5})(late));
  auto r = m.get("/");
  CHECK(r.body == "late");
  CHECK(r.header("RateLimit-Remaining") == "4");
}
