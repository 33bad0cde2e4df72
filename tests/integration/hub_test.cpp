// The hub and the WebSocket apps built on it (apps/adder, apps/broadcast), over real sockets
// on every backend: a subprotocol negotiated with a real client, a broadcast that crosses
// worker threads and forgets closed connections, and an event stream that does not read
// dropped while the others keep receiving.
#include "../../apps/adder/app.hpp"
#include "../../apps/broadcast/app.hpp"
#include "support/backends.hpp"
#include "support/net_client.hpp"

#include <catch2/catch.hpp>

#include <thread>

using namespace lithe;
using namespace lithe::test;

namespace {

const std::string clients = std::string(LITHE_SOURCE_DIR) + "/tests/integration/clients/";

/// A minimal masked text frame and a reader of short unmasked server frames.
std::string masked_text(std::string_view s) {
  std::string f = "\x81";
  f += static_cast<char>(0x80 | s.size()); // short messages only
  f += std::string("\0\0\0\0", 4);         // a zero mask: the payload goes as it is
  return f + std::string(s);
}

std::string read_text(RawClient& c) {
  std::string h = c.read_bytes(2, 5s);
  if (h.size() < 2) return "<none>";
  std::size_t len = static_cast<unsigned char>(h[1]) & 0x7F;
  return c.read_bytes(len, 5s);
}

std::unique_ptr<RawClient> join(std::uint16_t port, std::string_view path) {
  auto c = std::make_unique<RawClient>(port);
  c->send("GET " + std::string(path) +
          " HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  std::string head;
  while (head.find("\r\n\r\n") == std::string::npos) {
    std::string b = c->read_bytes(1, 5s);
    if (b.empty()) break;
    head += b;
  }
  REQUIRE(head.starts_with("HTTP/1.1 101"));
  return c;
}

} // namespace

TEMPLATE_TEST_CASE("lithe-adder sums numbers over the adder subprotocol", "[ws][apps]",
                   LITHE_BACKENDS) {
  TestServer s(TestType::name, adder::app());
  auto r = run_process({"/usr/bin/python3", clients + "ws_client.py",
                        "ws://127.0.0.1:" + std::to_string(s.port()) + "/adder", "adder"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "protocol adder\nsum 6.5\nerror error: send numbers separated by spaces\n");
  RawClient c(s.port()); // no subprotocol offered: refused
  c.send("GET /adder HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  auto refused = c.read_response();
  REQUIRE(refused);
  CHECK(refused->status == 400);
}

TEMPLATE_TEST_CASE("A hub broadcast reaches every subscriber on every worker, once", "[ws][hub]",
                   LITHE_BACKENDS) {
  mw::Hub hub;
  TestServer s(TestType::name, broadcast::app(hub), {}, 2);
  std::vector<std::unique_ptr<RawClient>> room, other;
  for (int i = 0; i < 8; ++i)
    room.push_back(join(s.port(), "/ws/room"));
  other.push_back(join(s.port(), "/ws/elsewhere"));
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (hub.subscribers("room") < 8 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(2ms);
  REQUIRE(hub.subscribers("room") == 8);

  room[3]->send(masked_text("hello room"));
  for (auto& c : room)
    CHECK(read_text(*c) == "hello room");
  RawClient pub(s.port());
  pub.send("POST /publish/room HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nnews");
  auto r = pub.read_response();
  REQUIRE(r);
  CHECK(r->body == "8 listening\n");
  for (auto& c : room)
    CHECK(read_text(*c) == "news");
  CHECK(other[0]->read_bytes(1, 100ms).empty()); // another topic heard nothing

  room.clear(); // they leave: the hub forgets them
  deadline = std::chrono::steady_clock::now() + 5s;
  while (hub.subscribers("room") > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(2ms);
  CHECK(hub.subscribers("room") == 0);
}

TEMPLATE_TEST_CASE("lithe-broadcast drops an event stream that does not read, and the others "
                   "keep receiving",
                   "[sse][hub][backpressure]", LITHE_BACKENDS) {
  mw::Hub hub;
  // A budget far above what the test sends: only the slow-client policy may end the stream.
  HttpOptions http;
  http.max_connection_memory = 256 << 20;
  TestServer s(TestType::name, broadcast::app(hub), http);
  RawClient sleeper(s.port()); // never reads, so its receive window never grows
  sleeper.send(get("/events/flood"));
  REQUIRE(sleeper.read_until(": connected\n\n").ends_with(": connected\n\n"));
  RawClient reader(s.port());
  reader.send(get("/events/flood"));
  REQUIRE(reader.read_until(": connected\n\n").ends_with(": connected\n\n"));
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (hub.subscribers("flood") < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(2ms);
  REQUIRE(hub.subscribers("flood") == 2);

  // One 32 KiB event at a time, each read by the reader before the next: the sleeper's backlog
  // passes the 256 KiB mark once the kernel's buffers are full, a few MiB at most.
  const std::string big(32 * 1024, 'z');
  std::size_t sent = 0;
  for (int i = 0; hub.subscribers("flood") == 2 && sent < (64u << 20); ++i) {
    const std::string end = "#" + std::to_string(i) + "\n\n";
    hub.publish("flood", big + end.substr(0, end.size() - 2));
    REQUIRE(reader.read_until(end).ends_with(end));
    sent += big.size();
  }
  INFO(sent << " bytes sent before the sleeper was dropped");
  CHECK(hub.subscribers("flood") == 1);
  CHECK(sent < (16u << 20));
  // Its stream ends: the connection closes once what was queued for it is out.
  CHECK(sleeper.closed_by_peer(10s));
  hub.publish("flood", "still here");
  CHECK(reader.read_until("data: still here\n\n").ends_with("data: still here\n\n"));
  CHECK(hub.subscribers("flood") == 1);
}
