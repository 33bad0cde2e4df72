// ClientIp over real sockets on every backend: behind Debian's haproxy (option forwardfor) and
// nginx (X-Forwarded-For and a Forwarded header it writes), REMOTE_ADDR is the address curl
// connected from (bound to 127.0.0.3); a client forging the headers through the proxy, or
// straight to lithe, is not believed.
#include "support/backends.hpp"
#include "support/net_client.hpp"

#include <lithe/mw/client_ip.hpp>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace lithe;
using namespace lithe::test;

namespace {

struct Scratch {
  std::string path;
  Scratch() {
    char tmpl[] = "/tmp/lithe-client-ip.XXXXXX";
    REQUIRE(::mkdtemp(tmpl));
    path = tmpl;
  }
  ~Scratch() { std::filesystem::remove_all(path); }
};

App who() {
  return [](Env& env) -> Response {
    return {200,
            {{"Content-Type", "text/plain"}},
            std::string(env.remote_addr()) + " " + std::string(env.url_scheme()) + " " +
                std::string(mw::peer_addr(env))};
  };
}

/// Only the proxies' own address is trusted: 127.0.0.3 is a client like any other.
App behind(mw::ForwardedHeader h) {
  return mw::client_ip({.trusted_proxies = {"127.0.0.1/32"}, .header = h, .set_scheme = true})(
      who());
}

ProcessResult curl_from(std::uint16_t port, std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {"curl", "-sS", "--max-time", "10", "--interface", "127.0.0.3"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back("http://127.0.0.1:" + std::to_string(port) + "/");
  return run_process(argv);
}

} // namespace

TEMPLATE_TEST_CASE("Behind haproxy's forwardfor REMOTE_ADDR is the client's, forged hops ignored",
                   "[client_ip]", LITHE_BACKENDS) {
  TestServer s(TestType::name, behind(mw::ForwardedHeader::x_forwarded_for));
  Scratch d;
  std::uint16_t port = free_port();
  std::ofstream(d.path + "/haproxy.cfg")
      << "defaults\n  mode http\n  timeout connect 5s\n  timeout client 10s\n"
      << "  timeout server 10s\nfrontend f\n  bind 127.0.0.1:" << port
      << "\n  option forwardfor\n  http-request set-header X-Forwarded-Proto http\n"
      << "  default_backend b\nbackend b\n  server lithe 127.0.0.1:" << s.port() << "\n";
  Daemon haproxy({"haproxy", "-db", "-q", "-f", d.path + "/haproxy.cfg"});
  REQUIRE(accepting(port));
  auto r = curl_from(port);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "127.0.0.3 http 127.0.0.1");
  // The client's own X-Forwarded-For is kept by haproxy, left of the hop it appends.
  r = curl_from(port,
                {"-H", "X-Forwarded-For: 6.6.6.6, 127.0.0.1", "-H", "X-Forwarded-Proto: https"});
  CHECK(r.out == "127.0.0.3 http 127.0.0.1"); // haproxy sets the proto: the forged one is gone
  CHECK(s.settles());
}

TEMPLATE_TEST_CASE("Behind nginx, X-Forwarded-For or Forwarded gives the client and the scheme",
                   "[client_ip]", LITHE_BACKENDS) {
  for (auto header : {mw::ForwardedHeader::x_forwarded_for, mw::ForwardedHeader::forwarded}) {
    TestServer s(TestType::name, behind(header));
    Scratch d;
    std::uint16_t port = free_port();
    std::ofstream(d.path + "/nginx.conf")
        << "worker_processes 1;\ndaemon off;\nmaster_process off;\npid " << d.path
        << "/nginx.pid;\nerror_log " << d.path << "/nginx-error.log;\n"
        << "events { worker_connections 64; }\nhttp {\n  access_log off;\n"
        << "  server {\n    listen 127.0.0.1:" << port << ";\n    location / {\n"
        << "      proxy_pass http://127.0.0.1:" << s.port() << ";\n"
        << "      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
        << "      proxy_set_header X-Forwarded-Proto https;\n"
        << "      proxy_set_header Forwarded \"for=$remote_addr;proto=https\";\n    }\n  }\n}\n";
    Daemon nginx({"nginx", "-c", d.path + "/nginx.conf", "-e", d.path + "/nginx-error.log"});
    REQUIRE(accepting(port));
    auto r = curl_from(port, {"-H", "X-Forwarded-For: 6.6.6.6", "-H", "Forwarded: for=6.6.6.6"});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "127.0.0.3 https 127.0.0.1");
    CHECK(s.settles());
  }
}

TEMPLATE_TEST_CASE("A client that is not a trusted proxy cannot forge its address or scheme",
                   "[client_ip]", LITHE_BACKENDS) {
  TestServer s(TestType::name, behind(mw::ForwardedHeader::x_forwarded_for));
  auto r =
      curl_from(s.port(), {"-H", "X-Forwarded-For: 1.2.3.4", "-H", "X-Forwarded-Proto: https"});
  CHECK(r.exit_code == 0);
  CHECK(r.out == "127.0.0.3 http 127.0.0.3");
  // From the trusted address itself, garbage falls back to the peer.
  RawClient c(s.port());
  REQUIRE(c.send(get("/", "X-Forwarded-For: garbage, [::1\r\n")));
  auto res = c.read_response();
  REQUIRE(res);
  CHECK(res->body == "127.0.0.1 http 127.0.0.1");
  CHECK(s.settles());
}
