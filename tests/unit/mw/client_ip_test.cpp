// ClientIp: CIDR blocks (IPv4, IPv6, v4-mapped), the chain walked from the right past trusted
// hops, Forwarded's node forms, untrusted peers and garbage ignored, the hop bound, the scheme,
// and the address REMOTE_ADDR and CommonLogger then see.
#include <lithe/lithe.hpp>
#include <lithe/mock_request.hpp>
#include <lithe/mw/client_ip.hpp>
#include <lithe/mw/common_logger.hpp>

#include <catch2/catch.hpp>

#include <cstdio>
#include <stdexcept>
#include <unistd.h>

using namespace lithe;

namespace {

App who() {
  return [](Env& env) -> Response {
    return {200,
            {{"Content-Type", "text/plain"}},
            std::string(env["REMOTE_ADDR"]) + " " + std::string(env.url_scheme()) + " " +
                std::string(mw::peer_addr(env))};
  };
}

std::string ask(const App& app, std::string peer,
                std::vector<std::pair<std::string, std::string>> headers) {
  MockOptions o;
  o.remote_addr = std::move(peer);
  o.headers = std::move(headers);
  return MockRequest(app).get("/", o).body;
}

mw::ClientIpOptions proxies(mw::ForwardedHeader h = mw::ForwardedHeader::x_forwarded_for) {
  return {.trusted_proxies = {"10.0.0.0/8", "2001:db8:ffff::/48", "127.0.0.1"}, .header = h};
}

} // namespace

TEST_CASE("CIDR blocks match IPv4, IPv6 and IPv4-mapped addresses by their prefix") {
  auto v4 = mw::parse_cidr("192.168.0.0/16");
  REQUIRE(v4);
  CHECK(v4->contains(*mw::parse_ip("192.168.255.1")));
  CHECK(v4->contains(*mw::parse_ip("::ffff:192.168.1.1")));
  CHECK_FALSE(v4->contains(*mw::parse_ip("192.169.0.1")));
  CHECK_FALSE(v4->contains(*mw::parse_ip("2001:db8::1")));
  auto v6 = mw::parse_cidr("2001:db8::/33");
  REQUIRE(v6);
  CHECK(v6->contains(*mw::parse_ip("2001:db8:7fff::1")));
  CHECK_FALSE(v6->contains(*mw::parse_ip("2001:db8:8000::1")));
  auto one = mw::parse_cidr("10.1.2.3");
  REQUIRE(one);
  CHECK(one->contains(*mw::parse_ip("10.1.2.3")));
  CHECK_FALSE(one->contains(*mw::parse_ip("10.1.2.4")));
  CHECK(mw::parse_cidr("0.0.0.0/0")->contains(*mw::parse_ip("8.8.8.8")));
  for (const char* bad : {"10.0.0.0/33", "::/129", "10.0.0/8", "10.0.0.0/", "host/8", "1.2.3.4/-1",
                          "fe80::1%eth0", ""}) {
    INFO(bad);
    CHECK_FALSE(mw::parse_cidr(bad));
  }
  CHECK_THROWS_AS(mw::client_ip({.trusted_proxies = {"10.0.0.0/99"}}), std::invalid_argument);
}

TEST_CASE("Behind a trusted proxy the right-most untrusted X-Forwarded-For hop is the client") {
  App app = mw::client_ip(proxies())(who());
  CHECK(ask(app, "10.0.0.5", {{"X-Forwarded-For", "203.0.113.7"}}) == "203.0.113.7 http 10.0.0.5");
  // A client that forges a first hop: the proxy appended the real one; the forged stays left.
  CHECK(ask(app, "10.0.0.5", {{"X-Forwarded-For", "1.1.1.1, 203.0.113.7, 10.9.9.9"}}) ==
        "203.0.113.7 http 10.0.0.5");
  // Several header lines are one list, in order.
  CHECK(ask(app, "10.0.0.5",
            {{"X-Forwarded-For", "198.51.100.1"}, {"X-Forwarded-For", "203.0.113.9, 10.0.0.7"}}) ==
        "203.0.113.9 http 10.0.0.5");
  // Every hop trusted: the left-most stands.
  CHECK(ask(app, "10.0.0.5", {{"X-Forwarded-For", "10.1.1.1, 10.2.2.2"}}) ==
        "10.1.1.1 http 10.0.0.5");
  CHECK(ask(app, "10.0.0.5", {{"X-Forwarded-For", "[2001:db8::7]:443"}}) ==
        "2001:db8::7 http 10.0.0.5");
}

TEST_CASE("Forwarded headers from a peer that is not a trusted proxy are ignored") {
  App app = mw::client_ip(proxies())(who());
  CHECK(ask(app, "198.51.100.20", {{"X-Forwarded-For", "1.2.3.4"}}) ==
        "198.51.100.20 http 198.51.100.20");
  App fwd = mw::client_ip(proxies(mw::ForwardedHeader::forwarded))(who());
  CHECK(ask(fwd, "2001:db8:1::1", {{"Forwarded", "for=1.2.3.4"}}) ==
        "2001:db8:1::1 http 2001:db8:1::1");
  // Only the configured header is read: a forged Forwarded through an X-Forwarded-For proxy.
  CHECK(ask(app, "10.0.0.5", {{"Forwarded", "for=6.6.6.6"}}) == "10.0.0.5 http 10.0.0.5");
}

TEST_CASE("Forwarded: quoted IPv6 with a port, several elements, pairs in any order") {
  App app = mw::client_ip(proxies(mw::ForwardedHeader::forwarded))(who());
  CHECK(ask(app, "2001:db8:ffff::2",
            {{"Forwarded", "for=\"[2001:db8::1]:4711\";proto=https, for=10.0.0.1"}}) ==
        "2001:db8::1 http 2001:db8:ffff::2");
  CHECK(ask(app, "::ffff:10.0.0.9",
            {{"Forwarded", "proto=http;For=\"192.0.2.60:80\";by=10.0.0.9"}}) ==
        "192.0.2.60 http ::ffff:10.0.0.9");
  CHECK(ask(app, "10.0.0.9", {{"Forwarded", "for=192.0.2.43, for=198.51.100.17;by=x"}}) ==
        "198.51.100.17 http 10.0.0.9");
}

TEST_CASE("Unknown, obfuscated or malformed hops leave the peer's address") {
  App fwd = mw::client_ip(proxies(mw::ForwardedHeader::forwarded))(who());
  App xff = mw::client_ip(proxies())(who());
  for (const char* v :
       {"for=unknown", "for=_hidden", "for=\"[2001:db8::1\"", "for=[2001:db8::1]",
        "for=\"unterminated", "for=1.2.3.4:80", "for=1.2.3.4;;=x", "for=1.2.3.4:99999999",
        "for=\"1.2.3.4\\\"\"", "by=10.0.0.1", "for=300.1.1.1", "\x01\xff"}) {
    INFO(v);
    CHECK(ask(fwd, "10.0.0.5", {{"Forwarded", v}}) == "10.0.0.5 http 10.0.0.5");
  }
  for (const char* v : {"garbage", "1.2.3.4.5", "unknown", "::ffff:1.2.3.4%eth0", "[::1", "-"}) {
    INFO(v);
    CHECK(ask(xff, "10.0.0.5", {{"X-Forwarded-For", v}}) == "10.0.0.5 http 10.0.0.5");
  }
  // The walk stops at the first hop it cannot read: nothing left of it is believed.
  CHECK(ask(xff, "10.0.0.5", {{"X-Forwarded-For", "1.2.3.4, unknown, 10.0.0.1"}}) ==
        "10.0.0.5 http 10.0.0.5");
}

TEST_CASE("Past max_hops trusted hops, or past max_header_bytes, the peer's address stands") {
  std::string chain = "203.0.113.1";
  for (int i = 0; i < 70; ++i)
    chain += ", 10.0.0." + std::to_string(i);
  App app = mw::client_ip(proxies())(who());
  CHECK(ask(app, "10.0.0.5", {{"X-Forwarded-For", chain}}) == "10.0.0.5 http 10.0.0.5");
  mw::ClientIpOptions more = proxies();
  more.max_hops = 100;
  CHECK(ask(mw::client_ip(more)(who()), "10.0.0.5", {{"X-Forwarded-For", chain}}) ==
        "203.0.113.1 http 10.0.0.5");
  more.max_header_bytes = 100;
  CHECK(ask(mw::client_ip(more)(who()), "10.0.0.5", {{"X-Forwarded-For", chain}}) ==
        "10.0.0.5 http 10.0.0.5");
}

TEST_CASE("With set_scheme the proxy's X-Forwarded-Proto or the client's proto= is the scheme") {
  mw::ClientIpOptions o = proxies();
  o.set_scheme = true;
  App app = mw::client_ip(o)(who());
  CHECK(ask(app, "10.0.0.5", {{"X-Forwarded-For", "192.0.2.1"}, {"X-Forwarded-Proto", "HTTPS"}}) ==
        "192.0.2.1 https 10.0.0.5");
  CHECK(ask(app, "10.0.0.5", {{"X-Forwarded-For", "192.0.2.1"}, {"X-Forwarded-Proto", "ftp"}}) ==
        "192.0.2.1 http 10.0.0.5");
  CHECK(ask(app, "8.8.8.8", {{"X-Forwarded-For", "192.0.2.1"}, {"X-Forwarded-Proto", "https"}}) ==
        "8.8.8.8 http 8.8.8.8");
  o.header = mw::ForwardedHeader::forwarded;
  App fwd = mw::client_ip(o)(who());
  CHECK(
      ask(fwd, "10.0.0.5", {{"Forwarded", "for=192.0.2.1;proto=https, for=10.0.0.3;proto=http"}}) ==
      "192.0.2.1 https 10.0.0.5");
  CHECK(ask(mw::client_ip(proxies(mw::ForwardedHeader::forwarded))(who()), "10.0.0.5",
            {{"Forwarded", "for=192.0.2.1;proto=https"}}) == "192.0.2.1 http 10.0.0.5");
}

TEST_CASE("CommonLogger behind client_ip logs the client's address, not the proxy's") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f);
  App app = mw::common_logger({.fd = ::fileno(f)})(mw::client_ip(proxies())(who()));
  CHECK(ask(app, "10.0.0.5", {{"X-Forwarded-For", "203.0.113.7"}}).starts_with("203.0.113.7"));
  mw::flush_logs();
  std::rewind(f);
  char line[512] = {};
  REQUIRE(std::fgets(line, sizeof line, f));
  CHECK(std::string_view(line).starts_with("203.0.113.7 "));
  std::fclose(f);
}
