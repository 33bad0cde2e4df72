// The backends' socket helpers: what a connection keeps of its peer, and how it prints.
#include <catch2/catch.hpp>
#include <lithe/detail/net.hpp>

#include <arpa/inet.h>
#include <string>
#include <string_view>

using lithe::detail::PeerAddress;
using lithe::detail::PeerIp;

namespace {

std::string shown(const PeerAddress& a) {
  char out[64];
  std::size_t n = lithe::detail::format_address(PeerIp::of(a), out, sizeof out);
  return {out, n};
}

/// The socket address accept(2) would give for `ip` (IPv6 when it has a colon).
PeerAddress peer(const char* ip) {
  PeerAddress a{};
  if (std::string_view(ip).find(':') == std::string_view::npos) {
    a.v4.sin_family = AF_INET;
    a.v4.sin_port = htons(40000);
    REQUIRE(::inet_pton(AF_INET, ip, &a.v4.sin_addr) == 1);
  } else {
    a.v6.sin6_family = AF_INET6;
    a.v6.sin6_port = htons(40000);
    REQUIRE(::inet_pton(AF_INET6, ip, &a.v6.sin6_addr) == 1);
  }
  return a;
}

} // namespace

TEST_CASE("A peer's IP is kept in 16 bytes and printed as the client knows it") {
  STATIC_REQUIRE(sizeof(PeerIp) == 16);
  CHECK(shown(peer("127.0.0.1")) == "127.0.0.1");
  CHECK(shown(peer("203.0.113.250")) == "203.0.113.250");
  CHECK(shown(peer("::1")) == "::1");
  CHECK(shown(peer("2001:db8::42")) == "2001:db8::42");
  // An IPv4 client of a dual-stack listener arrives IPv4-mapped; REMOTE_ADDR is its IPv4.
  CHECK(shown(peer("::ffff:10.1.2.3")) == "10.1.2.3");
}

TEST_CASE("An address too long for the buffer prints as nothing, not as a cut address") {
  char out[4];
  CHECK(lithe::detail::format_address(PeerIp::of(peer("192.168.100.200")), out, sizeof out) == 0);
}
