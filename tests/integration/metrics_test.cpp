// --metrics and --health on a real app process, on every backend: the counts follow the
// requests, the server's live counters show an open connection, the health paths answer, and
// lithe-broadcast with --redis reports its hub's subscribers and its Redis bridge.
#include "support/app_process.hpp"
#include "support/backends.hpp"
#include "support/net_client.hpp"
#include "support/redis_server.hpp"
#include "support/ws_client.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

using namespace lithe;
using namespace lithe::test;

TEMPLATE_TEST_CASE("An app with --metrics and --health reports its requests and connections",
                   "[metrics]", LITHE_BACKENDS) {
  AppProcess app("hello", TestType::name, {"--metrics", "/metrics", "--health", "on"});
  RawClient held(app.port()); // one keep-alive connection stays open meanwhile
  REQUIRE(held.send(get("/")));
  REQUIRE(held.read_response());
  for (int i = 0; i < 4; ++i) {
    RawClient c(app.port());
    REQUIRE(c.send(get(i == 3 ? "/nope" : "/")));
    REQUIRE(c.read_response());
  }
  RawClient c(app.port());
  REQUIRE(c.send(get("/healthz")));
  auto live = c.read_response();
  REQUIRE(live);
  CHECK(live->body == "ok\n");
  REQUIRE(c.send(get("/readyz")));
  auto ready = c.read_response();
  REQUIRE(ready);
  CHECK(ready->status == 200);
  REQUIRE(c.send(get("/metrics")));
  auto m = c.read_response();
  REQUIRE(m);
  CHECK(m->status == 200);
  CHECK(m->body.find("lithe_requests_total{code=\"2xx\"} 4\n") != std::string::npos);
  CHECK(m->body.find("lithe_requests_total{code=\"4xx\"} 1\n") != std::string::npos);
  CHECK(m->body.find("lithe_connections 2\n") != std::string::npos); // `held` and this one
  CHECK(app.stop() == 0);
}

namespace {

std::string scrape(std::uint16_t port) {
  RawClient c(port);
  REQUIRE(c.send(get("/metrics")));
  auto m = c.read_response();
  REQUIRE(m);
  REQUIRE(m->status == 200);
  return m->body;
}

/// Scrapes until the text holds every line of `want` (bounded: 5 s); the last text scraped.
std::string scrape_until(std::uint16_t port, std::initializer_list<std::string_view> want) {
  std::string text;
  for (auto until = std::chrono::steady_clock::now() + 5s;;) {
    text = scrape(port);
    bool all = true;
    for (std::string_view line : want)
      all = all && text.find(std::string(line) + "\n") != std::string::npos;
    if (all || std::chrono::steady_clock::now() > until) return text;
    std::this_thread::sleep_for(20ms); // polling a counter that another process moves
  }
}

} // namespace

TEMPLATE_TEST_CASE("lithe-broadcast with --metrics reports its hub and its Redis bridge",
                   "[metrics][redis]", LITHE_BACKENDS) {
  RedisServer redis;
  AppProcess app("broadcast", TestType::name, {"--metrics", "/metrics", "--redis", redis.url()});
  auto ws = open_ws(app.port(), "/ws/news");
  REQUIRE(ws);
  RawClient sse(app.port());
  REQUIRE(sse.send(get("/events/news")));
  REQUIRE(sse.read_until(": connected\n\n").ends_with(": connected\n\n"));
  std::string text = scrape_until(app.port(), {R"(lithe_hub_subscribers{kind="websocket"} 1)",
                                               R"(lithe_hub_subscribers{kind="sse"} 1)"});
  INFO(text);
  CHECK(text.find("# TYPE lithe_hub_subscribers gauge\n") != std::string::npos);
  CHECK(text.find(R"(lithe_hub_subscribers{kind="websocket"} 1)") != std::string::npos);
  CHECK(text.find(R"(lithe_hub_subscribers{kind="sse"} 1)") != std::string::npos);
  CHECK(text.find(R"(lithe_hub_subscribers{kind="other"} 0)") != std::string::npos);
  CHECK(text.find("lithe_hub_topics 1\n") != std::string::npos);
  CHECK(text.find("lithe_redis_connected 1\n") != std::string::npos);
  CHECK(text.find("lithe_redis_published_total 0\n") != std::string::npos);

  RawClient pub(app.port());
  REQUIRE(pub.send("POST /publish/news HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi"));
  REQUIRE(pub.read_response());
  REQUIRE(sse.read_until("data: hi\n\n").ends_with("data: hi\n\n"));
  // Through Redis and back: one acknowledged, one received, one delivered, none dropped.
  text = scrape_until(app.port(), {"lithe_redis_published_total 1", "lithe_redis_received_total 1",
                                   "lithe_hub_messages_total 1"});
  INFO(text);
  CHECK(text.find("lithe_redis_published_total 1\n") != std::string::npos);
  CHECK(text.find("lithe_redis_received_total 1\n") != std::string::npos);
  CHECK(text.find("lithe_hub_messages_total 1\n") != std::string::npos);
  CHECK(text.find("lithe_redis_dropped_total 0\n") != std::string::npos);
  CHECK(text.find("lithe_redis_queued 0\n") != std::string::npos);

  ws.reset(); // the WebSocket leaves: its subscription goes with it
  text = scrape_until(app.port(), {R"(lithe_hub_subscribers{kind="websocket"} 0)"});
  CHECK(text.find(R"(lithe_hub_subscribers{kind="websocket"} 0)") != std::string::npos);
  CHECK(text.find(R"(lithe_hub_subscribers{kind="sse"} 1)") != std::string::npos);
  CHECK(app.stop() == 0);
}
