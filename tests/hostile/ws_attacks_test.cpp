// Hostile WebSocket clients against lithe-echo (permessage-deflate on), on every backend:
// deflate bombs and final-block messages, ping and pong floods, fragment floods. Each checks
// memory within the budget, no spinning, and a normal client answered meanwhile.
#include "hostile.hpp"
#include "support/backends.hpp"
#include "support/ws_client.hpp"
#include "ws_wire.hpp"

#include <lithe/mw/ws_codec.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/socket.h>

using namespace lithe;
using namespace lithe::hostile;
using lithe::test::client_frame;
using lithe::test::open_ws;
using lithe::test::RawClient;
namespace ws = lithe::mw::ws;

namespace {

constexpr std::string_view deflate_offer = "Sec-WebSocket-Extensions: permessage-deflate\r\n";

void non_blocking(RawClient& c) {
  ::fcntl(c.fd(), F_SETFL, ::fcntl(c.fd(), F_GETFL) | O_NONBLOCK);
}

std::size_t try_send(RawClient& c, std::string_view bytes) {
  ssize_t n = ::send(c.fd(), bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

std::vector<std::unique_ptr<RawClient>> open_many(std::uint16_t port, std::size_t n,
                                                  std::string_view extra = deflate_offer) {
  std::vector<std::unique_ptr<RawClient>> cs;
  for (std::size_t i = 0; i < n; ++i) {
    auto c = open_ws(port, "/", extra);
    REQUIRE(c);
    cs.push_back(std::move(c));
  }
  return cs;
}

/// The close code the server sends next (skipping data frames), or 0.
std::uint16_t close_code(RawClient& c) {
  for (int i = 0; i < 10000; ++i) {
    auto f = test::read_frame(c, 5s);
    if (!f) return 0;
    if (f->opcode == ws::close) return f->code();
  }
  return 0;
}

} // namespace

TEMPLATE_TEST_CASE("Deflate bombs are refused with 1009 and final-block messages end",
                   "[hostile][websocket]", LITHE_BACKENDS) {
  raise_fd_limit();
  Target t("echo", TestType::name);
  for (int i = 0; i < 10; ++i)
    REQUIRE(probe(t.port()));
  Attack o{.name = "deflate-bomb", .backend = TestType::name, .connections = 20};
  o.rss_before_kib = t.rss_kib();
  // A final deflate block (BFINAL), which RFC 7692 allows: once an endless loop.
  {
    auto c = open_ws(t.port(), "/", deflate_offer);
    REQUIRE(c);
    REQUIRE(c->send(client_frame(0x80 | 0x40 | ws::text, std::string("\x03\x00", 2))));
    auto echo = test::read_frame(*c, 3s);
    REQUIRE(echo);
    CHECK(echo->opcode == ws::text);
  }
  const std::string bomb = wire::deflate_zeros(256u << 20); // 256 MiB of zeros in ~250 KiB
  auto cs = open_many(t.port(), o.connections);
  for (auto& c : cs)
    REQUIRE(c->send(client_frame(0x80 | 0x40 | ws::binary, bomb)));
  int refused = 0;
  for (auto& c : cs)
    refused += close_code(*c) == ws::too_big;
  CHECK(refused == static_cast<int>(o.connections));
  o.rss_peak_kib = t.rss_kib();
  probe_during(o, t, 5, "/");
  finish(o, t);
  CHECK(t.stop() == 0);
}

TEMPLATE_TEST_CASE("A ping flood from clients that never read is held to the budget",
                   "[hostile][websocket]", LITHE_BACKENDS) {
  raise_fd_limit();
  Target t("echo", TestType::name);
  for (int i = 0; i < 10; ++i)
    REQUIRE(probe(t.port()));
  Attack o{.name = "ping-flood", .backend = TestType::name, .connections = 20};
  o.rss_before_kib = t.rss_kib();
  auto cs = open_many(t.port(), o.connections, "");
  std::string pings;
  for (int i = 0; i < 1000; ++i)
    pings += client_frame(0x80 | ws::ping, std::string(125, 'p'));
  for (auto& c : cs) {
    c->set_receive_buffer(4096);
    non_blocking(*c);
  }
  auto until = std::chrono::steady_clock::now() + 3s;
  std::size_t sent = 0;
  o.rss_peak_kib = peak_rss(
      t,
      [&] {
        for (auto& c : cs)
          sent += try_send(*c, pings); // never reading the pongs
        return std::chrono::steady_clock::now() > until;
      },
      5s);
  INFO("bytes of pings sent: " << sent);
  probe_during(o, t, 5, "/");
  finish(o, t);
  CHECK(t.stop() == 0);
}

TEMPLATE_TEST_CASE("A pong flood and a fragment flood cost little, and fragments end in 1009",
                   "[hostile][websocket]", LITHE_BACKENDS) {
  raise_fd_limit();
  Target t("echo", TestType::name);
  for (int i = 0; i < 10; ++i)
    REQUIRE(probe(t.port()));
  Attack o{.name = "pong-fragment-flood", .backend = TestType::name, .connections = 40};
  o.rss_before_kib = t.rss_kib();
  auto pongers = open_many(t.port(), o.connections / 2, "");
  auto fragmenters = open_many(t.port(), o.connections / 2, "");
  std::string pongs;
  for (int i = 0; i < 1000; ++i)
    pongs += client_frame(0x80 | ws::pong, std::string(125, 'q'));
  std::string fragments;
  for (int i = 0; i < 4096; ++i)
    fragments += client_frame(ws::continuation, "x"); // 1-byte fragments, no FIN
  for (auto& c : fragmenters)
    REQUIRE(c->send(client_frame(ws::text, "x")));
  // Unsolicited pongs for a while, and fragments until the message is over its limit.
  for (int round = 0; round < 20; ++round) {
    for (auto& c : pongers)
      REQUIRE(c->send(pongs));
    for (auto& c : fragmenters)
      c->send(fragments);
  }
  o.rss_peak_kib = t.rss_kib();
  probe_during(o, t, 5, "/");
  // Past max_message the fragmenters are closed with 1009.
  int refused = 0;
  for (auto& c : fragmenters) {
    for (int i = 0; i < 200 && c->send(fragments); ++i)
      ;
    refused += close_code(*c) == ws::too_big;
  }
  CHECK(refused == static_cast<int>(o.connections / 2));
  o.rss_peak_kib = std::max(o.rss_peak_kib, t.rss_kib());
  finish(o, t);
  CHECK(t.stop() == 0);
}
