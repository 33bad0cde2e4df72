// lithe-comet's app (apps/comet) over real sockets on every backend, with two workers so a
// publish crosses threads: long polls and streams get each message once, ?since= replays
// what a poller missed, bad input gets a clear 4xx, and clients that leave are forgotten.
#include "../../apps/comet/comet.hpp"
#include "support/backends.hpp"
#include "support/net_client.hpp"

#include <catch2/catch.hpp>

#include <thread>

using namespace lithe;
using namespace lithe::test;

namespace {

std::string publish(std::string_view text) {
  return "POST /publish HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(text.size()) +
         "\r\n\r\n" + std::string(text);
}

bool await_waiters(TestServer& s, long n) {
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (s.stats().awaiting < n && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(2ms);
  return s.stats().awaiting == n;
}

} // namespace

TEMPLATE_TEST_CASE("A publish reaches every long poll and stream, across workers", "[comet]",
                   LITHE_BACKENDS) {
  comet::Hub hub;
  TestServer s(TestType::name, comet::app(hub), {}, 2);
  std::vector<std::unique_ptr<RawClient>> polls;
  for (int i = 0; i < 6; ++i) {
    polls.push_back(std::make_unique<RawClient>(s.port()));
    REQUIRE(polls.back()->send(get("/poll")));
  }
  RawClient stream(s.port());
  REQUIRE(stream.send(get("/stream")));
  CHECK(stream.read_until("subscribed\n").find("subscribed\n") != std::string::npos);
  REQUIRE(await_waiters(s, 6));

  RawClient pub(s.port());
  REQUIRE(pub.send(publish("hello everyone")));
  auto r = pub.read_response();
  REQUIRE(r);
  CHECK(r->status == 202);
  CHECK(r->body == "delivered to 7\n");
  for (auto& p : polls) {
    auto got = p->read_response();
    REQUIRE(got);
    CHECK(got->body == "1 hello everyone\n");
  }
  CHECK(stream.read_until("1 hello everyone\n").find("1 hello everyone\n") != std::string::npos);

  REQUIRE(pub.send(publish("second")));
  REQUIRE(pub.read_response());
  CHECK(stream.read_until("2 second\n").find("2 second\n") != std::string::npos);
}

TEMPLATE_TEST_CASE("A poller that missed messages gets them at once with ?since=", "[comet]",
                   LITHE_BACKENDS) {
  comet::Hub hub;
  TestServer s(TestType::name, comet::app(hub));
  RawClient c(s.port());
  for (std::string_view m : {"one", "two", "three"}) {
    REQUIRE(c.send(publish(m)));
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->body == "delivered to 0\n");
  }
  REQUIRE(c.send(get("/poll?since=1")));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->body == "2 two\n3 three\n");
  REQUIRE(c.send(get("/poll?since=3"))); // up to date: waits for the next one
  CHECK_FALSE(c.read_response(100ms));
  RawClient pub(s.port());
  REQUIRE(pub.send(publish("four")));
  REQUIRE(pub.read_response());
  r = c.read_response();
  REQUIRE(r);
  CHECK(r->body == "4 four\n");
}

TEMPLATE_TEST_CASE("Bad publishes and polls get a clear 4xx", "[comet]", LITHE_BACKENDS) {
  comet::Hub hub;
  TestServer s(TestType::name, comet::app(hub));
  RawClient c(s.port());
  auto status_of = [&c](const std::string& req) {
    c.send(req);
    auto r = c.read_response();
    return r ? r->status : 0;
  };
  CHECK(status_of(publish("")) == 400);
  CHECK(status_of(publish("two\nlines")) == 400);
  CHECK(status_of(publish(std::string(comet::Hub::max_message + 1, 'x'))) == 413);
  CHECK(status_of(get("/publish")) == 405);
  CHECK(status_of(get("/poll?since=soon")) == 400);
  CHECK(status_of(get("/nowhere")) == 404);
}

TEMPLATE_TEST_CASE("Comet clients that leave are forgotten and free everything", "[comet]",
                   LITHE_BACKENDS) {
  comet::Hub hub;
  TestServer s(TestType::name, comet::app(hub));
  {
    RawClient p(s.port()), st(s.port());
    REQUIRE(p.send(get("/poll")));
    REQUIRE(st.send(get("/stream")));
    st.read_until("subscribed\n");
    REQUIRE(await_waiters(s, 1));
  }
  CHECK(s.settles());
  RawClient pub(s.port());
  REQUIRE(pub.send(publish("anyone?")));
  auto r = pub.read_response();
  REQUIRE(r);
  CHECK(r->body == "delivered to 0\n");
}
