// Hostile clients against each remaining limit, over real sockets, on every backend: oversized
// heads, stalled bodies, requests past the memory budget, a flood of thread-pool work, and event
// streams that never read. Each checks memory within the budget, no spinning, normal clients
// answered, and that the limit itself answered (413, 408, 503, a dropped stream).
#include "hostile.hpp"
#include "support/backends.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <sys/socket.h>

using namespace lithe;
using namespace lithe::hostile;
using lithe::test::get;
using lithe::test::RawClient;

namespace {

/// The server's threads now (/proc/PID/status), to see the pool hold its size.
long threads_of(const Target& t) {
  std::ifstream f("/proc/" + std::to_string(t.pid()) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("Threads:", 0) == 0) return std::atol(line.c_str() + 8);
  return 0;
}

void warm_up(Target& t, std::string_view path = "/") {
  for (int i = 0; i < 20; ++i)
    REQUIRE(probe(t.port(), path));
}

} // namespace

TEMPLATE_TEST_CASE("Heads just under the limits, held open, cost their head and no more",
                   "[hostile]", LITHE_BACKENDS) {
  raise_fd_limit();
  Target t("hello", TestType::name, {"--header-timeout", "5s"});
  warm_up(t);
  Attack o{.name = "head-flood", .backend = TestType::name, .connections = 1000};
  o.rss_before_kib = t.rss_kib();
  std::vector<int> fds = open_connections(t.port(), o.connections);
  std::this_thread::sleep_for(200ms); // connected
  // 15 KiB of headers (the limit is 16), never finished; and over the limit on a few more.
  std::string head = "GET / HTTP/1.1\r\nHost: t\r\n";
  for (int i = 0; head.size() < 15 * 1024; ++i)
    head += "X-Pad-" + std::to_string(i) + ": " + std::string(100, 'p') + "\r\n";
  send_each(fds, head);
  o.rss_peak_kib = peak_rss(
      t, [] { return false; }, 500ms);
  probe_during(o, t);
  RawClient over(t.port());
  REQUIRE(over.send(head + head));
  auto r = over.read_response();
  REQUIRE(r);
  CHECK(r->status == 431);
  finish(o, t);
  close_all(fds);
  CHECK(t.stop() == 0);
}

TEMPLATE_TEST_CASE("Bodies that stall, read whole or streamed, are cut by the body timeout",
                   "[hostile]", LITHE_BACKENDS) {
  raise_fd_limit();
  struct Case {
    const char *app, *name, *path;
    std::size_t connections;
  };
  for (Case c :
       {Case{"echo", "slow-body", "/", 1000}, Case{"upload", "upload-stall", "/sha256", 500}}) {
    Target t(c.app, TestType::name, {"--body-timeout", "1s"});
    warm_up(t);
    Attack o{.name = c.name, .backend = TestType::name, .connections = c.connections};
    o.rss_before_kib = t.rss_kib();
    std::vector<int> fds = open_connections(t.port(), o.connections);
    std::this_thread::sleep_for(200ms); // connected
    send_each(fds, "POST " + std::string(c.path) +
                       " HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n" +
                       std::string(1000, 'b'));
    o.rss_peak_kib = peak_rss(
        t, [] { return false; }, 300ms);
    probe_during(o, t);
    // Each gets 408 once its body has not moved for a second.
    int timed_out = 0;
    for (int fd : fds)
      timed_out += read_head(fd, 5s).starts_with("HTTP/1.1 408");
    CHECK(timed_out == static_cast<int>(o.connections));
    finish(o, t);
    close_all(fds);
    CHECK(t.stop() == 0);
  }
}

TEMPLATE_TEST_CASE("A request past the connection's memory budget is answered 413", "[hostile]",
                   LITHE_BACKENDS) {
  raise_fd_limit();
  // A body limit above the budget: the budget is what refuses.
  Target t("echo", TestType::name, {"--max-body", "4M", "--max-connection-memory", "256k"});
  warm_up(t);
  Attack o{.name = "budget", .backend = TestType::name, .connections = 50, .budget = 256 << 10};
  o.rss_before_kib = t.rss_kib();
  std::vector<std::unique_ptr<RawClient>> cs;
  const std::string chunk(64 * 1024, 'm');
  int refused = 0;
  for (std::size_t i = 0; i < o.connections; ++i) {
    cs.push_back(std::make_unique<RawClient>(t.port()));
    RawClient& c = *cs.back();
    REQUIRE(c.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3000000\r\n\r\n"));
    for (int k = 0; k < 5 && c.send(chunk); ++k) // 320 KiB: past the budget, not by much
      ;
    auto r = c.read_response(5s);
    refused += r && r->status == 413;
  }
  o.rss_peak_kib = t.rss_kib();
  CHECK(refused == static_cast<int>(o.connections));
  CHECK(t.log().find("max_connection_memory") != std::string::npos); // logged, with figures
  probe_during(o, t);
  finish(o, t);
  CHECK(t.stop() == 0);
}

TEMPLATE_TEST_CASE("A flood of work for the thread pool keeps its threads and answers 503",
                   "[hostile]", LITHE_BACKENDS) {
  raise_fd_limit();
  Target t("async", TestType::name, {"--pool-threads", "2", "--pool-queue", "8"});
  warm_up(t);
  Attack o{.name = "pool-flood", .backend = TestType::name, .connections = 1000};
  o.rss_before_kib = t.rss_kib();
  const long threads_before = threads_of(t);
  std::vector<int> fds = open_connections(t.port(), o.connections);
  std::this_thread::sleep_for(200ms); // connected
  send_each(fds, get("/long"));
  o.rss_peak_kib = peak_rss(
      t, [] { return false; }, 1s);
  // Two pool threads at most, whatever the flood: no thread per request.
  CHECK(threads_of(t) <= threads_before + 2);
  probe_during(o, t); // the loop is free while the pool computes
  int busy = 0;
  for (int fd : fds)
    busy += read_head(fd, 2s).starts_with("HTTP/1.1 503");
  CHECK(busy >= static_cast<int>(o.connections) - 10 - 20); // all but what the pool took
  close_all(fds); // the clients go: the queued work's answers are dropped
  o.probes.clear();
  probe_during(o, t);
  o.report();
  CHECK(o.rss_growth_kib() <= o.allowed_kib());
  CHECK(t.stop() == 0);
}

TEMPLATE_TEST_CASE("Event-stream subscribers that never read are dropped", "[hostile]",
                   LITHE_BACKENDS) {
  raise_fd_limit();
  Target t("broadcast", TestType::name);
  Attack o{.name = "sse-stalled", .backend = TestType::name, .connections = 50};
  o.rss_before_kib = t.rss_kib();
  std::vector<int> fds = open_connections(t.port(), o.connections);
  for (int fd : fds) {
    int small = 4096;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  }
  std::this_thread::sleep_for(200ms); // connected
  send_each(fds, get("/events/news"));
  std::this_thread::sleep_for(200ms); // subscribed
  const std::string msg(64 * 1024, 'n');
  RawClient publisher(t.port());
  // 8 MiB to each subscriber, who reads none of it: more than the kernel's socket buffers
  // (up to 4 MiB) take, so the server's own queue passes the stream's 256 KiB mark.
  for (int i = 0; i < 128; ++i) {
    REQUIRE(publisher.send("POST /publish/news HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                           std::to_string(msg.size()) + "\r\n\r\n" + msg));
    REQUIRE(publisher.read_response());
  }
  o.rss_peak_kib = peak_rss(
      t, [] { return false; }, 500ms);
  REQUIRE(publisher.send("POST /publish/news HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx"));
  auto r = publisher.read_response();
  REQUIRE(r);
  CHECK(r->body.starts_with("0 listening")); // every stalled stream was ended
  for (int i = 0; i < 5; ++i) { // a normal client: other paths are answered 404 at once
    auto start = std::chrono::steady_clock::now();
    RawClient c(t.port());
    REQUIRE(c.send(get("/nowhere")));
    REQUIRE(c.read_response());
    o.probes.push_back(std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - start));
  }
  finish(o, t);
  close_all(fds);
  CHECK(t.stop() == 0);
}
