// The hub and the WebSocket apps built on it (apps/adder, apps/broadcast), over real sockets
// on every backend: a subprotocol negotiated with a real client, and a broadcast that crosses
// worker threads and forgets closed connections.
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
