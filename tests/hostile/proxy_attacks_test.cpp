// Hostile clients against a listener that takes the PROXY protocol (docs/proxy_protocol.md),
// on every backend: connections that start a v2 header just under its 4 KiB bound and never
// finish it hold that and no more and are cut by the header timeout; a header that declares
// more than the bound, or garbage, is closed at once; a normal client behind a "balancer"
// (sending its own PROXY line) is answered throughout.
#include "hostile.hpp"
#include "support/backends.hpp"

#include <lithe/proxy_protocol.hpp>

#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <string>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

using namespace lithe;
using namespace lithe::hostile;
using lithe::test::RawClient;

namespace {

/// A PROXY v2 header for TCP over IPv4 that declares `length` bytes after its 16-byte prefix
/// (12 for the addresses, the rest TLVs), with `have` of them present.
std::string v2_header(std::size_t length, std::size_t have) {
  std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
  h += '\x21'; // version 2, PROXY
  h += '\x11'; // TCP over IPv4
  h += static_cast<char>(length >> 8);
  h += static_cast<char>(length & 0xff);
  std::string body = {127, 0, 0, 9, 127, 0, 0, 1, 0x30, 0x39, 0x00, 0x50}; // 127.0.0.9:12345
  // One NOOP TLV (type 0x04) padding the rest.
  if (length > 12 + 3) {
    std::size_t pad = length - 12 - 3;
    body += '\x04';
    body += static_cast<char>(pad >> 8);
    body += static_cast<char>(pad & 0xff);
    body += std::string(pad, '\0');
  }
  return h + body.substr(0, have);
}

/// A normal client behind the balancer: its PROXY line, then a GET; the time to a 200.
std::optional<std::chrono::microseconds> proxied_probe(std::uint16_t port) {
  auto start = std::chrono::steady_clock::now();
  RawClient c(port);
  if (!c.send("PROXY TCP4 198.51.100.7 127.0.0.1 40000 80\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n"))
    return std::nullopt;
  auto r = c.read_response(3s);
  if (!r || r->status != 200) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                               start);
}

} // namespace

TEMPLATE_TEST_CASE("PROXY headers held just under their bound cost that, and the header timeout "
                   "ends them",
                   "[hostile][proxy]", LITHE_BACKENDS) {
  raise_fd_limit();
  Target t("hello", TestType::name, {"--proxy-protocol", "on", "--header-timeout", "3s"});
  for (int i = 0; i < 20; ++i)
    REQUIRE(proxied_probe(t.port()));
  Attack o{.name = "proxy-header-flood", .backend = TestType::name, .connections = 1000};
  o.rss_before_kib = t.rss_kib();
  std::vector<int> fds = open_connections(t.port(), o.connections);
  std::this_thread::sleep_for(200ms); // connected
  // 16 bytes of prefix and 4,000 of the 4,064 declared: within max_proxy_header, never done.
  const std::size_t declared = max_proxy_header - 16 - 16;
  send_each(fds, v2_header(declared, declared - 64));
  o.rss_peak_kib = peak_rss(
      t, [] { return false; }, 500ms);
  for (int i = 0; i < 5; ++i) {
    auto p = proxied_probe(t.port());
    INFO("a client behind the balancer was not answered");
    REQUIRE(p);
    o.probes.push_back(*p);
  }
  // Declaring more than the bound, or not starting with a header at all: closed at once.
  RawClient over(t.port());
  REQUIRE(over.send(v2_header(max_proxy_header, 16)));
  CHECK(over.closed_by_peer(2s));
  RawClient plain(t.port());
  REQUIRE(plain.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
  CHECK(plain.closed_by_peer(2s));
  finish(o, t);
  // The held headers are cut by the header timeout (3 s): the first one read sees its end.
  char byte;
  auto until = std::chrono::steady_clock::now() + 8s;
  ::fcntl(fds.front(), F_SETFL, ::fcntl(fds.front(), F_GETFL) & ~O_NONBLOCK);
  timeval tv{8, 0};
  ::setsockopt(fds.front(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ssize_t n = ::recv(fds.front(), &byte, 1, 0);
  bool ended = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK); // EOF or reset
  CHECK(ended);
  CHECK(std::chrono::steady_clock::now() < until);
  close_all(fds);
  REQUIRE(proxied_probe(t.port()));
  CHECK(t.stop() == 0);
}
