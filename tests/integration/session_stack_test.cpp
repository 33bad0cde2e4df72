// Sessions, CSRF and rate limiting over real sockets on every backend: curl with a cookie jar
// logs in through a form, the session holds across requests, a forged cookie is ignored, a
// form post without the token is refused; the burst ends in 429. Then the Redis session store
// and rate store against a real redis-server this test starts, stopped mid-test: 503 for the
// sessions, fail-open (or 503) for the rate limit, never a hang.
#include "support/redis_server.hpp"
#include "support/backends.hpp"
#include "support/net_client.hpp"

#include <lithe/manual_loop.hpp>
#include <lithe/mw/csrf.hpp>
#include <lithe/mw/rate_limit.hpp>
#include <lithe/mw/redis_rate_store.hpp>
#include <lithe/mw/redis_session.hpp>
#include <lithe/mw/session.hpp>

#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace lithe;
using namespace lithe::test;

namespace {

const std::string secret = "0123456789abcdef0123456789abcdef";

/// GET /login: a CSRF token; POST /login (user=NAME): logs in; GET /me: who; POST /note: needs
/// the token; /late: sets "late" in a late response, /late-value: reads it; /limited: three at
/// once, then 429.
App site(std::shared_ptr<mw::SessionStore> store = nullptr,
         std::shared_ptr<mw::RateStore> rate_store = nullptr) {
  return Builder([&](Builder& b) {
           b.use(mw::rate_limit({.rate = 0.01,
                                 .burst = 3,
                                 .counts = [](const Env& e) { return e.path() == "/limited"; },
                                 .store = rate_store}));
           b.use(mw::session({.secrets = {secret}, .store = store}));
           b.use(mw::csrf());
           b.run([](Env& env) -> Response {
             mw::Session& s = mw::session(env);
             if (env.path() == "/login" && env.method() == "GET")
               return {200, {}, mw::csrf_token(env)};
             if (env.path() == "/login") {
               std::string_view body = env.body();
               std::size_t at = body.find("user=");
               s.renew();
               s.set("user", body.substr(at + 5, body.find('&', at) - at - 5));
               return {200, {}, "welcome"};
             }
             if (env.path() == "/late") { // changes the session in a late response
               env.loop().add_timer(Millis(20), [cb = env.async_callback(), &env] {
                 if (!cb.pending()) return;
                 mw::session(env).set("late", "yes");
                 cb({200, {}, "later"});
               });
               return async;
             }
             if (env.path() == "/late-value")
               return {200, {}, std::string(s.get("late").value_or("none"))};
             if (env.path() == "/me")
               return {200, {}, std::string(s.get("user").value_or("nobody"))};
             return {200, {}, "ok"};
           });
         })
      .to_app();
}

struct Jar {
  std::string path;
  Jar() {
    char tmpl[] = "/tmp/lithe-jar.XXXXXX";
    int fd = ::mkstemp(tmpl);
    REQUIRE(fd >= 0);
    ::close(fd);
    path = tmpl;
  }
  ~Jar() { std::filesystem::remove(path); }
};

std::string curl_out(const TestServer& s, std::vector<std::string> args) {
  auto r = run_process(s.curl(std::move(args)));
  REQUIRE(r.exit_code == 0);
  return r.out;
}

/// "STATUS BODY" of one request through curl with the jar.
std::string through(const TestServer& s, const Jar& jar, std::vector<std::string> args,
                    std::string_view path) {
  std::vector<std::string> a{"-b", jar.path, "-c", jar.path, "-w", " %{http_code}"};
  a.insert(a.end(), args.begin(), args.end());
  a.push_back(s.url(path));
  return curl_out(s, a);
}

} // namespace

TEMPLATE_TEST_CASE("A browser-like client logs in through a CSRF-protected form and stays "
                   "logged in; forged cookies and tokenless posts are refused",
                   "[session][csrf]", LITHE_BACKENDS_AND_TLS) {
  for (bool streamed : {false, true}) {
    TestServer s(TestType{}, site(), HttpOptions{.stream_bodies = streamed});
    Jar jar;
    CHECK(through(s, jar, {}, "/me") == "nobody 200");
    CHECK(through(s, jar, {"--data", "user=mallory"}, "/login").ends_with(" 403"));
    std::string token = through(s, jar, {}, "/login");
    token = token.substr(0, token.size() - 4);
    REQUIRE(token.size() == 86);
    CHECK(through(s, jar, {"--data", "user=alice&authenticity_token=" + token}, "/login") ==
          "welcome 200");
    CHECK(through(s, jar, {}, "/me") == "alice 200");
    CHECK(through(s, jar, {}, "/me") == "alice 200");
    // The same path with a forged or altered cookie: nobody.
    CHECK(curl_out(s, {"-b", "lithe.session=forged", s.url("/me")}) == "nobody");
    // A post with the header instead of the field passes; one without either does not.
    CHECK(through(s, jar, {"-X", "POST", "-H", "X-CSRF-Token: " + token}, "/note") == "ok 200");
    CHECK(through(s, jar, {"-X", "POST"}, "/note").starts_with("Forbidden: missing CSRF token"));
  }
}

TEMPLATE_TEST_CASE("Rate limiting answers 429 with Retry-After once the burst is spent",
                   "[rate_limit]", LITHE_BACKENDS) {
  TestServer s(TestType{}, site());
  RawClient c(s.port());
  for (int i = 0; i < 3; ++i) {
    c.send(get("/limited"));
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->header("RateLimit-Remaining") == std::to_string(2 - i));
  }
  c.send(get("/limited"));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 429);
  CHECK(r->header("Retry-After"));
  c.send(get("/me")); // not counted
  CHECK(c.read_response()->status == 200);
}

TEMPLATE_TEST_CASE("Sessions in Redis: the cookie holds a signed id, data lives in Redis with a "
                   "TTL, and Redis stopped answers 503 at once",
                   "[session][redis]", LITHE_BACKENDS) {
  RedisServer redis;
  auto client = std::make_shared<mw::RedisClient>(mw::RedisClientOptions{.url = redis.url()});
  auto store = std::make_shared<mw::RedisSessionStore>(client);
  TestServer s(TestType{}, site(store), HttpOptions{}, 2);
  Jar jar;
  std::string token = through(s, jar, {}, "/login");
  token = token.substr(0, token.size() - 4);
  REQUIRE(token.size() == 86);
  CHECK(through(s, jar, {"--data", "user=alice&authenticity_token=" + token}, "/login") ==
        "welcome 200");
  for (int i = 0; i < 4; ++i) // either worker thread
    CHECK(through(s, jar, {}, "/me") == "alice 200");
  CHECK(through(s, jar, {}, "/late") == "later 200"); // saved behind a late response
  CHECK(through(s, jar, {}, "/late-value") == "yes 200");
  CHECK(through(s, jar, {}, "/me") == "alice 200");
  auto keys = run_process({"redis-cli", "-s", redis.socket(), "KEYS", "lithe:session:*"});
  CHECK(std::count(keys.out.begin(), keys.out.end(), '\n') == 1); // renew dropped the first
  std::string key = keys.out.substr(0, keys.out.find('\n'));
  auto ttl = run_process({"redis-cli", "-s", redis.socket(), "TTL", key});
  CHECK(std::stol(ttl.out) > 1'000'000); // 14 days
  auto value = run_process({"redis-cli", "-s", redis.socket(), "GET", key});
  CHECK(value.out.find("alice") != std::string::npos);
  std::string jar_text = run_process({"cat", jar.path}).out;
  CHECK(jar_text.find("alice") == std::string::npos); // only the id travels

  redis.stop();
  auto start = std::chrono::steady_clock::now();
  std::string down = through(s, jar, {}, "/me");
  CHECK(down.ends_with(" 503"));
  CHECK(down.find("the session store is unavailable") != std::string::npos);
  CHECK(down.find(redis.socket()) == std::string::npos); // where Redis is stays in the log
  CHECK(std::chrono::steady_clock::now() - start < 3s);
  // A visitor without a session does not need Redis to be served.
  CHECK(curl_out(s, {s.url("/me")}) == "nobody");
  CHECK(s.settles());
}

TEMPLATE_TEST_CASE("Rate limits shared through Redis count across servers, and fail open when "
                   "Redis stops",
                   "[rate_limit][redis]", LITHE_BACKENDS) {
  RedisServer redis;
  auto client = std::make_shared<mw::RedisClient>(mw::RedisClientOptions{.url = redis.url()});
  auto rates = std::make_shared<mw::RedisRateStore>(client);
  TestServer a(TestType{}, site(nullptr, rates)), b(TestType{}, site(nullptr, rates));
  auto status = [](const TestServer& s) {
    RawClient c(s.port());
    c.send(get("/limited"));
    auto r = c.read_response();
    return r ? r->status : 0;
  };
  CHECK(status(a) == 200);
  CHECK(status(b) == 200);
  CHECK(status(a) == 200);
  CHECK(status(b) == 429); // the fourth, on either server
  CHECK(status(a) == 429);
  redis.stop();
  CHECK(status(a) == 200); // fail open
  CHECK(client->failures() >= 1);

  // Fail closed: 503 with a reason.
  TestServer closed(TestType{}, Builder([&](Builder& bb) {
                                  bb.use(mw::rate_limit({.store = rates, .fail_open = false}));
                                  bb.run([](Env&) -> Response { return {200, {}, "ok"}; });
                                }).to_app());
  RawClient c(closed.port());
  c.send(get("/"));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(r->body.find("rate limit store is unavailable") != std::string::npos);
}

TEST_CASE("The Redis client's queue is bounded: while Redis is paused, commands past it are "
          "refused at once, and the queued ones are answered after",
          "[redis]") {
  RedisServer redis;
  mw::RedisClient client({.url = redis.url(), .max_queued = 4});
  ManualLoop loop;
  int answered = 0, ok = 0;
  auto count = [&](mw::RedisReply r) {
    ++answered;
    ok += r.type == mw::RedisReply::Type::status;
  };
  REQUIRE(client.command({"SET", "k", "v"}, loop.handle(), count));
  REQUIRE(loop.run_until([&] { return answered == 1; }, Millis(5000)));
  REQUIRE(run_process({"redis-cli", "-s", redis.socket(), "CLIENT", "PAUSE", "500"}).exit_code ==
          0);
  int accepted = 0;
  for (int i = 0; i < 20; ++i)
    accepted += client.command({"SET", "k", std::to_string(i)}, loop.handle(), count);
  CHECK(accepted >= 4);
  CHECK(accepted <= 5); // four waiting, perhaps one taken by the thread already
  REQUIRE(loop.run_until([&] { return answered == 1 + accepted; }, Millis(5000)));
  CHECK(ok == 1 + accepted);
}
