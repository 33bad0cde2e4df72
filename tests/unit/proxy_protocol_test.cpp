// The PROXY protocol header parser (core/src/proxy_protocol.cpp), versions 1 and 2, and the
// layer that takes it off a connection, driven through the fake transport.
#include "fake_transport.hpp"

#include <catch2/catch.hpp>
#include <lithe/lithe.hpp>
#include <lithe/proxy_protocol.hpp>

#include <arpa/inet.h>

#include <string>

using namespace lithe;
using R = ProxyHeader::Result;

namespace {

std::string v2(unsigned char ver_cmd, unsigned char family, const std::string& body) {
  std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
  h += static_cast<char>(ver_cmd);
  h += static_cast<char>(family);
  h += static_cast<char>(body.size() >> 8);
  h += static_cast<char>(body.size() & 0xff);
  return h + body;
}

std::string ip(int af, const char* text) {
  unsigned char b[16];
  REQUIRE(::inet_pton(af, text, b) == 1);
  return std::string(reinterpret_cast<char*>(b), af == AF_INET ? 4 : 16);
}

std::string port(unsigned p) {
  return {static_cast<char>(p >> 8), static_cast<char>(p & 0xff)};
}

std::string source(const ProxyHeader& h) {
  return std::string(h.source, h.source_len);
}

} // namespace

TEST_CASE("A v1 header gives the client's address and port and its own length") {
  ProxyHeader h;
  std::string in = "PROXY TCP4 203.0.113.7 10.0.0.1 56324 443\r\nGET / HTTP/1.1\r\n";
  REQUIRE(parse_proxy_header(in, h) == R::done);
  CHECK(source(h) == "203.0.113.7");
  CHECK(h.source_port == 56324);
  CHECK(h.length == in.find("GET"));
  CHECK_FALSE(h.local);
  REQUIRE(parse_proxy_header("PROXY TCP6 2001:DB8::7 2001:db8::1 1 65535\r\n", h) == R::done);
  CHECK(source(h) == "2001:db8::7"); // canonical text
  REQUIRE(parse_proxy_header("PROXY UNKNOWN whatever it says\r\n", h) == R::done);
  CHECK(h.local);
  CHECK(h.source_len == 0);
}

TEST_CASE("A v1 header that is cut short asks for more, up to 107 bytes") {
  ProxyHeader h;
  std::string full = "PROXY TCP4 203.0.113.7 10.0.0.1 56324 443\r\n";
  for (std::size_t n = 1; n < full.size(); ++n)
    CHECK(parse_proxy_header(full.substr(0, n), h) == R::need_more);
  CHECK(parse_proxy_header("PROXY UNKNOWN " + std::string(120, 'x'), h) == R::bad);
}

TEST_CASE("A malformed v1 header, or none, is refused") {
  ProxyHeader h;
  for (const char* bad :
       {"GET / HTTP/1.1\r\n\r\n", "PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n",
        "PROXY TCP4 1.2.3 1.2.3.4 1 2\r\n", "PROXY TCP4 1.2.3.4 1.2.3.4 1 65536\r\n",
        "PROXY TCP4 ::1 ::1 1 2\r\n", "PROXY TCP6 1.2.3.4 1.2.3.4 1 2\r\n",
        "PROXY TCP4 1.2.3.4  1.2.3.4 1 2\r\n", "PROXY TCP4 1.2.3.4 1.2.3.4 x 2\r\n",
        "PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n", "PROXYTCP4\r\n", "\x16\x03\x01"})
    CHECK(parse_proxy_header(bad, h) == R::bad);
}

TEST_CASE("A v2 header gives the address for TCP over IPv4 and IPv6 and skips TLVs") {
  ProxyHeader h;
  std::string four = v2(
      0x21, 0x11, ip(AF_INET, "198.51.100.9") + ip(AF_INET, "10.0.0.1") + port(4000) + port(443));
  REQUIRE(parse_proxy_header(four + "GET", h) == R::done);
  CHECK(source(h) == "198.51.100.9");
  CHECK(h.source_port == 4000);
  CHECK(h.length == four.size());
  std::string six = v2(0x21, 0x21,
                       ip(AF_INET6, "2001:db8::5") + ip(AF_INET6, "2001:db8::1") + port(1) +
                           port(2) + std::string("\x04\x00\x02hi", 5)); // a NOOP TLV
  REQUIRE(parse_proxy_header(six, h) == R::done);
  CHECK(source(h) == "2001:db8::5");
  CHECK(h.length == six.size());
  for (std::size_t n = 1; n < six.size(); ++n)
    CHECK(parse_proxy_header(six.substr(0, n), h) == R::need_more);
}

TEST_CASE("A v2 LOCAL header (a health check) or an unspecified family keeps the peer's own") {
  ProxyHeader h;
  REQUIRE(parse_proxy_header(v2(0x20, 0x00, ""), h) == R::done);
  CHECK(h.local);
  REQUIRE(parse_proxy_header(v2(0x21, 0x00, ""), h) == R::done);
  CHECK(h.local);
  REQUIRE(parse_proxy_header(v2(0x21, 0x31, std::string(216, '\0')), h) == R::done);
  CHECK(h.local); // a unix socket's path is no client address
}

TEST_CASE("A malformed v2 header is refused") {
  ProxyHeader h;
  std::string addrs = ip(AF_INET, "1.2.3.4") + ip(AF_INET, "1.2.3.4") + port(1) + port(2);
  CHECK(parse_proxy_header(v2(0x11, 0x11, addrs), h) == R::bad); // version 1 in a v2 frame
  CHECK(parse_proxy_header(v2(0x22, 0x11, addrs), h) == R::bad); // unknown command
  CHECK(parse_proxy_header(v2(0x21, 0x12, addrs), h) == R::bad); // UDP
  CHECK(parse_proxy_header(v2(0x21, 0x11, addrs.substr(0, 11)), h) == R::bad); // short
  CHECK(parse_proxy_header(v2(0x21, 0x21, addrs), h) == R::bad);               // too short for IPv6
  CHECK(parse_proxy_header(v2(0x21, 0x11, std::string(max_proxy_header, 'x')), h) == R::bad);
  CHECK(parse_proxy_header(std::string("\r\n\r\n\0\r\nQUIX\n", 12), h) == R::bad);
}

TEST_CASE("Behind the PROXY layer REMOTE_ADDR is the header's source, in pieces or whole") {
  App app = [](Env& env) -> Response {
    return {200, {{"Content-Type", "text/plain"}}, std::string(env.remote_addr())};
  };
  std::string request = "PROXY TCP4 203.0.113.7 10.0.0.1 56324 443\r\n"
                        "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  for (std::size_t piece : {request.size(), std::size_t{1}, std::size_t{7}}) {
    ManualLoop loop;
    fuzz::FakeTransport t(loop);
    t.set_capture(true);
    auto svc = proxy_protocol_service(http_service(app))(loop, ListenInfo{.port = 80});
    ManualLoop::Scope scope(loop);
    t.attach(svc->accept(t));
    for (std::size_t at = 0; at < request.size(); at += piece)
      t.read(std::string_view(request).substr(at, piece));
    t.settle();
    CHECK(t.output().find("\r\n\r\n203.0.113.7") != std::string::npos);
    t.reset();
  }
}

TEST_CASE("A connection without a PROXY header is closed before the engine sees it") {
  ManualLoop loop;
  fuzz::FakeTransport t(loop);
  t.set_capture(true);
  auto svc = proxy_protocol_service(http_service([](Env&) -> Response {
    return {200, {}, "no"};
  }))(loop, ListenInfo{.port = 80});
  ManualLoop::Scope scope(loop);
  t.attach(svc->accept(t));
  t.read("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  t.settle();
  CHECK_FALSE(t.open());
  CHECK(t.output().empty());
  CHECK(svc->stats().requests == 0);
}
