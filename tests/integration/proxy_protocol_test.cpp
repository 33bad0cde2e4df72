// The PROXY protocol against Debian's haproxy, started by each test: with send-proxy (v1) and
// send-proxy-v2 in front of lithe, REMOTE_ADDR is the address the client connected from
// (curl bound to 127.0.0.3), over HTTP and over TLS passed through in TCP mode; a connection
// without the header is closed.
#include "support/backends.hpp"
#include "support/haproxy.hpp"
#include "support/net_client.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <sys/socket.h>
#include <unistd.h>

using namespace lithe;
using namespace lithe::test;

namespace {

/// haproxy forwarding to lithe with a PROXY header (`send_proxy`), in `mode` (http or tcp).
std::string proxy_config(std::string_view mode, std::string_view send_proxy,
                         std::uint16_t backend_port, std::uint16_t port) {
  return "global\n  maxconn 256\ndefaults\n  mode " + std::string(mode) +
         "\n  timeout connect 5s\n  timeout client 10s\n  timeout server 10s\n"
         "frontend f\n  bind 127.0.0.1:" +
         std::to_string(port) + "\n  default_backend b\nbackend b\n  server lithe 127.0.0.1:" +
         std::to_string(backend_port) + " " + std::string(send_proxy) + "\n";
}

App who_app() {
  return [](Env& env) -> Response {
    return {200,
            {{"Content-Type", "text/plain"}},
            std::string(env.url_scheme()) + " " + std::string(env.remote_addr())};
  };
}

ServerOptions proxied() {
  ServerOptions o;
  o.proxy_protocol = true;
  return o;
}

} // namespace

TEMPLATE_TEST_CASE("Behind haproxy's send-proxy and send-proxy-v2 REMOTE_ADDR is the client's",
                   "[proxy]", LITHE_BACKENDS) {
  TestServer s(TestType::name, who_app(), proxied());
  for (const char* send : {"send-proxy", "send-proxy-v2"}) {
    INFO(send);
    HaProxy h([&](std::uint16_t p) { return proxy_config("http", send, s.port(), p); });
    auto r = run_process({"curl", "-sS", "--max-time", "10", "--interface", "127.0.0.3",
                          "http://127.0.0.1:" + std::to_string(h.port()) + "/"});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "http 127.0.0.3");
  }
  CHECK(s.settles());
}

TEMPLATE_TEST_CASE("haproxy in TCP mode with send-proxy-v2 before TLS: HTTPS, and the client's "
                   "address",
                   "[proxy][tls]", LITHE_BACKENDS) {
  char tmpl[] = "/tmp/lithe-proxy-tls.XXXXXX";
  REQUIRE(::mkdtemp(tmpl));
  std::string dir = tmpl;
  REQUIRE(run_process({std::string(LITHE_SOURCE_DIR) + "/scripts/dev-cert", dir}).exit_code == 0);
  ServerOptions o = proxied();
  o.tls.certificates = {{.cert_file = dir + "/cert.pem", .key_file = dir + "/key.pem"}};
  {
    TestServer s(TestType::name, who_app(), o);
    HaProxy h([&](std::uint16_t p) { return proxy_config("tcp", "send-proxy-v2", s.port(), p); });
    auto r = run_process({"curl", "-sS", "--max-time", "10", "--interface", "127.0.0.3", "--cacert",
                          dir + "/ca.pem", "https://127.0.0.1:" + std::to_string(h.port()) + "/"});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "https 127.0.0.3");
  }
  std::filesystem::remove_all(dir);
}

TEMPLATE_TEST_CASE("A connection without a PROXY header is closed; the next one with it is served",
                   "[proxy]", LITHE_BACKENDS) {
  TestServer s(TestType::name, who_app(), proxied());
  {
    RawClient c(s.port());
    REQUIRE(c.send(get("/")));
    CHECK(c.closed_by_peer());
  }
  RawClient c(s.port());
  REQUIRE(c.send("PROXY TCP6 2001:db8::9 2001:db8::1 40000 80\r\n" + get("/")));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->body == "http 2001:db8::9");
  CHECK(s.stats().requests == 1);
}
