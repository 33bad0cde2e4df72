// The Hub's Redis bridge against a real redis-server that each test starts on a Unix socket
// of its own: a publish on one server reaches the subscribers of another, a foreign
// redis-cli PUBLISH arrives as text, a Redis restart loses nothing queued meanwhile, and the
// queue meanwhile is bounded in messages and in bytes.
#include "../../apps/broadcast/app.hpp"
#include "support/backends.hpp"
#include "support/net_client.hpp"
#include "support/redis_server.hpp"

#include <lithe/mw/redis_bridge.hpp>

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

/// An SSE subscriber of `topic` on lithe-broadcast, once it is subscribed.
std::unique_ptr<RawClient> listen(std::uint16_t port, std::string_view topic) {
  auto c = std::make_unique<RawClient>(port);
  c->send(get("/events/" + std::string(topic)));
  REQUIRE(c->read_until(": connected\n\n").ends_with(": connected\n\n"));
  return c;
}

void publish(std::uint16_t port, std::string_view topic, std::string_view body) {
  RawClient c(port);
  c.send("POST /publish/" + std::string(topic) + " HTTP/1.1\r\nHost: t\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + std::string(body));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 202);
}

bool arrives(RawClient& c, std::string_view data) {
  std::string want = "data: " + std::string(data) + "\n\n";
  return c.read_until(want).ends_with(want);
}

/// An event within 100 ms (the stream's chunk framing around events does not count).
bool heard_anything(RawClient& c) {
  return c.read_until("data:", 100ms).find("data:") != std::string::npos;
}

} // namespace

TEMPLATE_TEST_CASE("Through Redis, a publish on one server reaches the subscribers of both, once",
                   "[hub][redis]", LITHE_BACKENDS) {
  RedisServer redis;
  mw::Hub hub_a, hub_b;
  mw::RedisBridge bridge_a(hub_a, {.url = redis.url()}), bridge_b(hub_b, {.url = redis.url()});
  REQUIRE(bridge_a.wait_connected(5s));
  REQUIRE(bridge_b.wait_connected(5s));
  TestServer a(TestType::name, broadcast::app(hub_a)), b(TestType::name, broadcast::app(hub_b));
  auto on_a = listen(a.port(), "news"), on_b = listen(b.port(), "news");
  auto other = listen(b.port(), "sports");

  publish(a.port(), "news", "first");
  CHECK(arrives(*on_b, "first")); // another process's subscriber
  CHECK(arrives(*on_a, "first")); // and this one's, by way of Redis too
  publish(b.port(), "news", "second");
  // Between the two messages, nothing: no subscriber heard the first one twice.
  for (RawClient* c : {on_a.get(), on_b.get()}) {
    std::string between = c->read_until("data: second\n\n");
    CHECK(between.ends_with("data: second\n\n"));
    CHECK(between.find("first") == std::string::npos);
  }
  CHECK_FALSE(heard_anything(*other)); // another topic heard nothing
  CHECK(bridge_a.stats().received == 2);
  CHECK(bridge_b.stats().received == 2);
}

TEST_CASE("A message published with redis-cli reaches lithe's subscribers as text",
          "[hub][redis]") {
  RedisServer redis;
  mw::Hub hub;
  mw::RedisBridge bridge(hub, {.url = redis.url(), .prefix = "chat:"});
  REQUIRE(bridge.wait_connected(5s));
  TestServer s("epoll", broadcast::app(hub));
  auto sub = listen(s.port(), "room1");
  auto r = run_process({"redis-cli", "-s", redis.socket(), "PUBLISH", "chat:room1", "hi from cli"});
  CHECK(r.out == "1\n"); // one subscriber: the bridge
  CHECK(arrives(*sub, "hi from cli"));
}

TEST_CASE("While Redis is away publishes wait in the queue, and arrive once it is back",
          "[hub][redis]") {
  RedisServer redis;
  mw::Hub hub;
  mw::RedisBridge bridge(hub, {.url = redis.url(), .reconnect_delay = 50ms});
  REQUIRE(bridge.wait_connected(5s));
  TestServer s("epoll", broadcast::app(hub));
  auto sub = listen(s.port(), "news");

  redis.stop();
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (bridge.connected() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  REQUIRE_FALSE(bridge.connected());
  publish(s.port(), "news", "while away"); // accepted: queued, not lost
  CHECK_FALSE(heard_anything(*sub));

  redis.start();
  REQUIRE(bridge.wait_connected(10s));
  CHECK(arrives(*sub, "while away"));
  CHECK(bridge.stats().reconnects >= 1);
  CHECK(bridge.stats().dropped == 0);
}

TEST_CASE("A full queue drops a publish and says so", "[hub][redis]") {
  mw::Hub hub;
  // Nothing listens there: every publish waits in the queue.
  mw::RedisBridge bridge(hub, {.url = "unix:/nonexistent/redis.sock", .max_queued = 2});
  CHECK(hub.publish("t", "1") == 1);
  CHECK(hub.publish("t", "2") == 1);
  CHECK(hub.publish("t", "3") == 0);
  CHECK(bridge.stats().dropped == 1);
  CHECK_FALSE(bridge.connected());
}

TEST_CASE("The publish queue is bounded in bytes: what would pass the bound is dropped, the "
          "rest arrives once Redis is back",
          "[hub][redis]") {
  RedisServer redis;
  mw::Hub hub;
  mw::RedisBridge bridge(
      hub, {.url = redis.url(), .max_queued_bytes = 32 * 1024, .reconnect_delay = 50ms});
  REQUIRE(bridge.wait_connected(5s));
  TestServer s("epoll", broadcast::app(hub));
  auto sub = listen(s.port(), "big");

  redis.stop();
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (bridge.connected() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  REQUIRE_FALSE(bridge.connected());
  // Each counts its topic and data: 10,003 bytes. Three fit in 32 KiB, a fourth does not,
  // though the count (10,000 by default) is far from full; a small one still fits.
  const std::string a(10000, 'a'), b(10000, 'b'), c(10000, 'c'), d(10000, 'd');
  CHECK(hub.publish("big", a) == 1);
  CHECK(hub.publish("big", b) == 1);
  CHECK(hub.publish("big", c) == 1);
  CHECK(hub.publish("big", d) == 0);
  CHECK(hub.publish("big", "small") == 1);
  mw::RedisStats st = bridge.stats();
  CHECK(st.dropped == 1);
  CHECK(st.queued == 4);
  CHECK(st.queued_bytes == 3 * 10003 + 8);

  redis.start();
  REQUIRE(bridge.wait_connected(10s));
  std::string got = sub->read_until("data: small\n\n");
  CHECK(got.ends_with("data: small\n\n"));
  const std::size_t at_a = got.find("data: " + a), at_b = got.find("data: " + b),
                    at_c = got.find("data: " + c);
  CHECK(at_a < at_b);
  CHECK(at_b < at_c);
  CHECK(at_c != std::string::npos);
  CHECK(got.find(d) == std::string::npos);
  deadline = std::chrono::steady_clock::now() + 5s;
  while (bridge.stats().queued_bytes > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  CHECK(bridge.stats().queued == 0);
  CHECK(bridge.stats().queued_bytes == 0);
  CHECK(bridge.stats().dropped == 1);
}

TEST_CASE("The byte bound is exact, and a message larger than it is dropped even into an "
          "empty queue",
          "[hub][redis]") {
  mw::Hub hub;
  mw::RedisBridge bridge(hub, {.url = "unix:/nonexistent/redis.sock", .max_queued_bytes = 1024});
  CHECK(hub.publish("t", std::string(1020, 'x')) == 1); // 1 + 1020 bytes
  CHECK(hub.publish("t", "xy") == 1);                   // 1024: exactly full
  CHECK(hub.publish("t", "") == 0);                     // a topic alone is one byte too many
  CHECK(bridge.stats().dropped == 1);
  CHECK(bridge.stats().queued_bytes == 1024);
  mw::Hub other;
  mw::RedisBridge small(other, {.url = "unix:/nonexistent/redis.sock", .max_queued_bytes = 10});
  CHECK(other.publish("t", std::string(64, 'x')) == 0);
  CHECK(small.stats().dropped == 1);
  CHECK(small.stats().queued_bytes == 0);
}

TEST_CASE("A Redis URL in neither form is refused with a message naming it", "[hub][redis]") {
  mw::Hub hub;
  CHECK_THROWS_WITH(mw::RedisBridge(hub, {.url = "http://127.0.0.1:6379"}),
                    Catch::Contains("redis://host[:port] or unix:/path") &&
                        Catch::Contains("http://127.0.0.1:6379"));
  CHECK_THROWS_AS(mw::RedisBridge(hub, {.url = "redis://127.0.0.1:99999"}), std::invalid_argument);
  CHECK(hub.publish("t", "x") == 0); // no relay left behind: delivered locally (no loops)
}

TEST_CASE("Messages keep their kind across Redis: text, binary, SSE event and id", "[hub][redis]") {
  using mw::RedisBridge;
  auto round = [](mw::HubMessage m) {
    return RedisBridge::decode(m.topic, RedisBridge::encode(m));
  };
  CHECK(RedisBridge::encode({.topic = "t", .data = "plain"}) == "plain");
  auto bin = round({.topic = "t", .data = std::string("\0\1\2", 3), .binary = true});
  CHECK(bin.binary);
  CHECK(bin.data == std::string("\0\1\2", 3));
  auto ev = round({.topic = "t", .data = "x\ny", .event = "tick", .id = 42});
  CHECK(ev.event == "tick");
  CHECK(ev.id == 42);
  CHECK(ev.data == "x\ny");
  auto nul = round({.topic = "t", .data = std::string("\0e starts like a header", 23)});
  CHECK_FALSE(nul.binary);
  CHECK(nul.data == std::string("\0e starts like a header", 23));
  // A header this version does not know is kept whole, as text.
  CHECK(RedisBridge::decode("t", std::string("\0z?", 3)).data == std::string("\0z?", 3));
}
