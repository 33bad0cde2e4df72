// lithe-async's app (apps/async) over real sockets on every backend: each of the seeds'
// async forms answers as the seed describes.
#include "../../apps/async/app.hpp"
#include "support/backends.hpp"
#include "support/net_client.hpp"

#include <catch2/catch.hpp>

using namespace lithe;
using namespace lithe::test;

TEMPLATE_TEST_CASE("lithe-async answers Hello, World in its three async spellings", "[apps]",
                   LITHE_BACKENDS) {
  TestServer s(TestType::name, async_app::app());
  RawClient c(s.port());
  for (const char* path : {"/", "/deferrable", "/respond"}) {
    REQUIRE(c.send(get(path)));
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "Hello, World");
  }
}

TEMPLATE_TEST_CASE("lithe-async's /async sends the head, then Woah after a second, then Cheers",
                   "[apps]", LITHE_BACKENDS) {
  TestServer s(TestType::name, async_app::app());
  RawClient c(s.port());
  REQUIRE(c.send(get("/async")));
  auto start = std::chrono::steady_clock::now();
  std::string head = c.read_bytes(16, 500ms); // the head comes at once
  CHECK(head.starts_with("HTTP/1.1 200 OK"));
  std::string rest;
  while (rest.find("0\r\n\r\n") == std::string::npos) { // the chunked body, after the timer
    std::string piece = c.read_bytes(4096, 5s);
    if (piece.empty()) break;
    rest += piece;
  }
  CHECK(std::chrono::steady_clock::now() - start >= 1s);
  std::string all = head + rest;
  CHECK(all.find("Transfer-Encoding: chunked") != std::string::npos);
  CHECK(all.find("Woah, async!\n") != std::string::npos);
  CHECK(all.find("Cheers then!") > all.find("Woah, async!"));
}

TEMPLATE_TEST_CASE("lithe-async's /long computes off the loop while other requests flow", "[apps]",
                   LITHE_BACKENDS) {
  TestServer s(TestType::name, async_app::app());
  RawClient slow(s.port()), quick(s.port());
  REQUIRE(slow.send(get("/long")));
  REQUIRE(quick.send(get("/delay/1")));
  auto q = quick.read_response(); // answered while /long is still computing
  REQUIRE(q);
  CHECK(q->body == "waited 1 ms\n");
  auto r = slow.read_response(20s);
  REQUIRE(r);
  CHECK(r->body.starts_with("computed "));
  // The computing thread lets go of its callback after the answer left; the server must
  // outlive that (SPEC 5.5), so wait for it before the server goes.
  CHECK(s.settles());
}

TEMPLATE_TEST_CASE("lithe-async's /long answers 503 at once when the thread pool is full", "[apps]",
                   LITHE_BACKENDS) {
  ServerOptions o;
  o.thread_pool = {.threads = 1, .max_queued = 1};
  TestServer s(TestType::name, async_app::app(), o);
  RawClient a(s.port()), b(s.port()), c(s.port());
  REQUIRE(a.send(get("/long"))); // computes
  REQUIRE(s.server().thread_pool());
  auto busy = [&] { return s.server().thread_pool()->stats().busy == 1; };
  for (auto until = std::chrono::steady_clock::now() + 5s;
       !busy() && std::chrono::steady_clock::now() < until;)
    std::this_thread::yield();
  REQUIRE(b.send(get("/long"))); // waits in the queue
  for (auto until = std::chrono::steady_clock::now() + 5s;
       s.server().thread_pool()->stats().queued < 1 && std::chrono::steady_clock::now() < until;)
    std::this_thread::yield();
  REQUIRE(c.send(get("/long"))); // refused
  auto refused = c.read_response();
  REQUIRE(refused);
  CHECK(refused->status == 503);
  CHECK(refused->header("Retry-After") == "1");
  auto ra = a.read_response(20s), rb = b.read_response(20s);
  REQUIRE(ra);
  REQUIRE(rb);
  CHECK(ra->body.starts_with("computed "));
  CHECK(rb->body.starts_with("computed "));
  CHECK(s.server().thread_pool()->stats().threads == 1);
}

TEMPLATE_TEST_CASE("lithe-async's /delay/:n waits n ms and refuses nonsense", "[apps]",
                   LITHE_BACKENDS) {
  TestServer s(TestType::name, async_app::app());
  RawClient c(s.port());
  auto start = std::chrono::steady_clock::now();
  REQUIRE(c.send(get("/delay/150")));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->body == "waited 150 ms\n");
  CHECK(std::chrono::steady_clock::now() - start >= 150ms);
  REQUIRE(c.send(get("/delay/soon")));
  r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 400);
}

TEMPLATE_TEST_CASE("lithe-async's /stream/:n sends exactly n bytes as the reader drains them",
                   "[apps]", LITHE_BACKENDS) {
  TestServer s(TestType::name, async_app::app());
  RawClient c(s.port());
  REQUIRE(c.send(get("/stream/1000000")));
  auto r = c.read_response(10s);
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body.size() == 1000000);
  CHECK(r->body.find_first_not_of('x') == std::string::npos);
  REQUIRE(c.send(get("/stream/0"))); // keep-alive survives, and an empty stream ends at once
  auto e = c.read_response();
  REQUIRE(e);
  CHECK(e->body.empty());
  REQUIRE(c.send(get("/stream/lots")));
  auto bad = c.read_response();
  REQUIRE(bad);
  CHECK(bad->status == 400);
}

TEMPLATE_TEST_CASE("lithe-async's /co/:n is a coroutine route: it sleeps without blocking the "
                   "loop, and a client leaving mid-sleep frees it",
                   "[apps][co]", LITHE_BACKENDS) {
  TestServer s(TestType::name, async_app::app());
  RawClient c(s.port()), other(s.port());
  auto start = std::chrono::steady_clock::now();
  REQUIRE(c.send(get("/co/300")));
  REQUIRE(other.send(get("/co/0"))); // answered at once while the first one sleeps
  auto quick = other.read_response();
  REQUIRE(quick);
  CHECK(quick->body == "waited 0 ms in a coroutine\n");
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->body == "waited 300 ms in a coroutine\n");
  CHECK(std::chrono::steady_clock::now() - start >= 300ms);
  REQUIRE(c.send(get("/co/soon")));
  auto bad = c.read_response();
  REQUIRE(bad);
  CHECK(bad->status == 400);
  {
    RawClient leaver(s.port());
    REQUIRE(leaver.send(get("/co/60000")));
    REQUIRE(leaver.read_bytes(1, 100ms).empty()); // asleep
  }                                               // leaves
  CHECK(s.settles()); // the sleeping coroutine was destroyed: nothing awaits, nothing leaked
}
