// --metrics and --health on a real app process, on every backend: the counts follow the
// requests, the server's live counters show an open connection, and the health paths answer.
#include "support/app_process.hpp"
#include "support/backends.hpp"
#include "support/net_client.hpp"

#include <catch2/catch.hpp>

using namespace lithe;
using namespace lithe::test;

TEMPLATE_TEST_CASE("An app with --metrics and --health reports its requests and connections",
                   "[metrics]", LITHE_BACKENDS) {
  AppProcess app("hello", TestType::name, {"--metrics", "/metrics", "--health", "on"});
  RawClient held(app.port()); // one keep-alive connection stays open meanwhile
  REQUIRE(held.send(get("/")));
  REQUIRE(held.read_response());
  for (int i = 0; i < 4; ++i) {
    RawClient c(app.port());
    REQUIRE(c.send(get(i == 3 ? "/nope" : "/")));
    REQUIRE(c.read_response());
  }
  RawClient c(app.port());
  REQUIRE(c.send(get("/healthz")));
  auto live = c.read_response();
  REQUIRE(live);
  CHECK(live->body == "ok\n");
  REQUIRE(c.send(get("/readyz")));
  auto ready = c.read_response();
  REQUIRE(ready);
  CHECK(ready->status == 200);
  REQUIRE(c.send(get("/metrics")));
  auto m = c.read_response();
  REQUIRE(m);
  CHECK(m->status == 200);
  CHECK(m->body.find("lithe_requests_total{code=\"2xx\"} 4\n") != std::string::npos);
  CHECK(m->body.find("lithe_requests_total{code=\"4xx\"} 1\n") != std::string::npos);
  CHECK(m->body.find("lithe_connections 2\n") != std::string::npos); // `held` and this one
  CHECK(app.stop() == 0);
}
