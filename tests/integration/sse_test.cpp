// Server-Sent Events and the chat demo's inputs over real sockets on every backend: live
// events, Last-Event-ID replay, heartbeats, a slow client dropped, clients that leave, and
// bad chat input answered with a clear 4xx or close code.
#include "../../apps/chat/chat.hpp"
#include "support/backends.hpp"
#include "support/net_client.hpp"

#include <lithe/mw/sse.hpp>

#include <catch2/catch.hpp>

#include <thread>

using namespace lithe;
using namespace lithe::test;

namespace {

bool wait_subscribers(mw::Hub& hub, std::string_view topic, std::size_t n) {
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (hub.subscribers(topic) != n && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(2ms);
  return hub.subscribers(topic) == n;
}

} // namespace

TEMPLATE_TEST_CASE("An event stream delivers published events live and replays after "
                   "Last-Event-ID",
                   "[sse]", LITHE_BACKENDS) {
  mw::Hub hub;
  mw::EventChannel channel(hub, "news", 3);
  TestServer s(TestType::name, channel.app({.heartbeat = {}}), {}, 2);
  RawClient live(s.port());
  live.send(get("/"));
  std::string head = live.read_until(": connected\n\n");
  CHECK(head.find("Content-Type: text/event-stream; charset=utf-8") != std::string::npos);
  CHECK(head.find("Cache-Control: no-cache") != std::string::npos);
  REQUIRE(wait_subscribers(hub, "news", 1));
  for (int i = 1; i <= 5; ++i)
    channel.publish("tick", "line " + std::to_string(i) + "\nsecond line");
  std::string got = live.read_until("id: 5\ndata: line 5\ndata: second line\n\n");
  CHECK(got.find("event: tick\nid: 1\ndata: line 1\ndata: second line\n\n") != std::string::npos);
  CHECK(got.find("id: 5\ndata: line 5") != std::string::npos);

  RawClient again(s.port()); // reconnects having seen id 3: gets 4 and 5 from the history
  again.send(get("/", "Last-Event-ID: 3\r\n"));
  std::string replay = again.read_until("id: 5\ndata: line 5\ndata: second line\n\n");
  CHECK(replay.find("id: 3\n") == std::string::npos);
  CHECK(replay.find("id: 4\ndata: line 4") != std::string::npos);
  CHECK(replay.find("id: 5\ndata: line 5") != std::string::npos);
}

TEMPLATE_TEST_CASE("Heartbeats keep a quiet stream alive, and a client that leaves is "
                   "forgotten",
                   "[sse]", LITHE_BACKENDS) {
  mw::Hub hub;
  mw::EventChannel channel(hub, "quiet");
  TestServer s(TestType::name, channel.app({.heartbeat = std::chrono::milliseconds(50)}));
  {
    RawClient c(s.port());
    c.send(get("/"));
    std::string got = c.read_until(": ping\n\n");
    CHECK(got.find(": ping\n\n") != std::string::npos);
    REQUIRE(wait_subscribers(hub, "quiet", 1));
  }
  CHECK(wait_subscribers(hub, "quiet", 0));
  CHECK(s.settles());
}

TEMPLATE_TEST_CASE("A client that does not read is dropped, never buffered without bound",
                   "[sse][backpressure]", LITHE_BACKENDS) {
  mw::Hub hub;
  mw::EventChannel channel(hub, "flood", 10);
  TestServer s(TestType::name, channel.app({.heartbeat = {}, .max_buffered = 64 * 1024}));
  RawClient sleeper(s.port());
  sleeper.send(get("/"));
  sleeper.read_until(": connected\n\n");
  REQUIRE(wait_subscribers(hub, "flood", 1));
  const std::string big(32 * 1024, 'z');
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (hub.subscribers("flood") > 0 && std::chrono::steady_clock::now() < deadline)
    channel.publish("bulk", big); // the sleeper never reads
  CHECK(hub.subscribers("flood") == 0);
  CHECK(s.settles());
}

TEMPLATE_TEST_CASE("lithe-chat refuses empty, oversized and invalid messages clearly",
                   "[sse][apps]", LITHE_BACKENDS) {
  mw::Hub hub;
  chat::Room room(hub);
  TestServer s(TestType::name, chat::app(room));
  auto say = [&s](std::string body) {
    RawClient c(s.port());
    c.send("POST /say HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n"
           "Content-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body);
    auto r = c.read_response();
    return r ? std::to_string(r->status) + " " + r->body : std::string("none");
  };
  CHECK(say("name=a&text=hello") == "204 ");
  CHECK(say("name=a&text=") == "400 empty message\n");
  CHECK(say("name=a&text=" + std::string(2001, 'x')) == "413 message over 2000 bytes\n");
  CHECK(say("name=a&text=%C0%AF") == "400 message is not valid UTF-8\n");

  RawClient page(s.port());
  page.send(get("/"));
  auto r = page.read_response();
  REQUIRE(r);
  CHECK(r->header("Content-Type") == "text/html; charset=utf-8");
  CHECK(r->body.find("EventSource") != std::string::npos);
}
