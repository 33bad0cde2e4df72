// The backend conformance suite: what every backend's workers do alike below the engine
// (core's WorkerBase; docs/backends.md): the listen backlog, the connection limit, and the
// stop deadline. Run once per backend (LITHE_BACKENDS).
#include "support/backends.hpp"
#include "support/net_client.hpp"

#include <catch2/catch.hpp>
#include <lithe/server.hpp>

#include <sstream>
#include <string>

using namespace lithe;
using namespace lithe::test;

TEMPLATE_TEST_CASE("Every worker listens with ListenConfig::backlog", "[backend][listen]",
                   LITHE_BACKENDS) {
  ServerOptions o;
  o.backend = TestType::name;
  o.listen.host = "127.0.0.1";
  o.listen.port = 0;
  o.listen.threads = 2;
  o.listen.backlog = 37;
  Server s(conformance_app(), o);
  REQUIRE_FALSE(s.start());
  // ss(8) shows a listening socket's backlog as its Send-Q.
  auto r = run_process({"ss", "-Hltn", "sport = :" + std::to_string(s.port())}, 5s);
  if (r.exit_code != 0) {
    WARN("ss(8) did not run, the backlog is unchecked: " + r.err);
    return;
  }
  std::istringstream lines(r.out);
  std::string line;
  int listeners = 0;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string state, recv_q, send_q;
    fields >> state >> recv_q >> send_q;
    if (state != "LISTEN") continue;
    ++listeners;
    CHECK(send_q == "37");
  }
  CHECK(listeners == 2); // one per worker (SO_REUSEPORT)
  s.stop();
}

TEMPLATE_TEST_CASE("At max_connections a worker leaves new clients in the backlog until one "
                   "closes",
                   "[backend][limits]", LITHE_BACKENDS) {
  ServerOptions o;
  o.listen.threads = 1;
  o.listen.max_connections = 2;
  TestServer s(TestType::name, conformance_app(), o);
  auto a = std::make_unique<RawClient>(s.port());
  RawClient b(s.port());
  for (RawClient* c : {a.get(), &b}) {
    REQUIRE(c->send(get("/")));
    REQUIRE(c->read_response());
  }
  RawClient waiting(s.port()); // the kernel completes the handshake; the worker does not accept
  REQUIRE(waiting.connected());
  REQUIRE(waiting.send(get("/")));
  CHECK_FALSE(waiting.read_response(300ms));
  a.reset(); // one of the two leaves: the waiting client is taken and served
  auto r = waiting.read_response(5s);
  REQUIRE(r);
  CHECK(r->status == 200);
  REQUIRE(b.send(get("/"))); // the others go on as before
  CHECK(b.read_response());
}

TEMPLATE_TEST_CASE("A graceful stop closes what is still busy at the deadline", "[backend][stop]",
                   LITHE_BACKENDS) {
  ServerOptions o;
  o.backend = TestType::name;
  o.listen.host = "127.0.0.1";
  o.listen.port = 0;
  o.stop_deadline = 200ms;
  Server s(conformance_app(), o);
  REQUIRE_FALSE(s.start());
  RawClient busy(s.port()), idle(s.port());
  REQUIRE(busy.send(get("/delay/10000")));
  REQUIRE(idle.send(get("/")));
  REQUIRE(idle.read_response());
  REQUIRE(busy.read_bytes(1, 50ms).empty()); // the app is still working on it
  auto started = std::chrono::steady_clock::now();
  s.stop();
  auto took = std::chrono::steady_clock::now() - started;
  CHECK(took >= 150ms);
  CHECK(took < 5s); // the deadline, not the request's 10 s
  CHECK(busy.closed_by_peer(1s));
  CHECK(idle.closed_by_peer(1s));
}
