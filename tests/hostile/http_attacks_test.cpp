// Hostile clients against the HTTP engine, over real sockets, on every backend (issue #15):
// each case starts a lithe app in its own process, attacks it, and checks that its memory
// stays within the per-connection budget, that it does not spin while the attack holds
// still, and that a normal client is answered meanwhile. Each prints a report line.
#include "hostile.hpp"
#include "support/backends.hpp"

#include <catch2/catch.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <iostream>
#include <poll.h>
#include <regex>
#include <sys/socket.h>
#include <unistd.h>

using namespace lithe;
using namespace lithe::hostile;
using lithe::test::get;
using lithe::test::RawClient;

namespace {

/// A few normal requests: the server is warm (pools, first-touch pages) before the baseline.
void warm_up(Target& t, std::string_view path = "/") {
  for (int i = 0; i < 20; ++i)
    REQUIRE(probe(t.port(), path));
}

/// Reads what the peer sends on `fd` until it closes (true) or the deadline.
bool closed_by_server(int fd, std::chrono::milliseconds within) {
  auto until = std::chrono::steady_clock::now() + within;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return true;
  }
}

/// wrk's p99 latency (ms) and request count for `seconds` of keep-alive GET / from 8 clients.
struct WrkRun {
  double p99_ms = 0;
  long requests = 0;
  long errors = 0;
};
WrkRun wrk(std::uint16_t port, int seconds) {
  auto r =
      test::run_process({"wrk", "-t1", "-c8", "-d" + std::to_string(seconds) + "s", "--timeout",
                         "5s", "--latency", "http://127.0.0.1:" + std::to_string(port) + "/"},
                        std::chrono::seconds(seconds + 20));
  WrkRun w;
  std::smatch m;
  if (std::regex_search(r.out, m, std::regex(R"(99%\s+([\d.]+)(us|ms|s))"))) {
    double v = std::stod(m[1]);
    w.p99_ms = m[2] == "us" ? v / 1000 : m[2] == "s" ? v * 1000 : v;
  }
  if (std::regex_search(r.out, m, std::regex(R"((\d+) requests in)"))) w.requests = std::stol(m[1]);
  if (std::regex_search(
          r.out, m,
          std::regex(R"(Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+))")))
    w.errors = std::stol(m[1]) + std::stol(m[2]) + std::stol(m[3]) + std::stol(m[4]);
  if (std::regex_search(r.out, m, std::regex(R"(Non-2xx or 3xx responses: (\d+))")))
    w.errors += std::stol(m[1]);
  return w;
}

} // namespace

TEMPLATE_TEST_CASE("Slowloris: 2,000 connections sending heads slowly while wrk measures normal "
                   "clients",
                   "[hostile]", LITHE_BACKENDS) {
  raise_fd_limit();
  Target t("hello", TestType::name);
  warm_up(t);
  Attack o{.name = "slowloris", .backend = TestType::name, .connections = 2000};
  o.rss_before_kib = t.rss_kib();
  WrkRun before = wrk(t.port(), 3);
  // slowhttptest: 2,000 connections at 1,000 per second, a header line every 3 s, 14 s long.
  std::string url = "http://127.0.0.1:" + std::to_string(t.port()) + "/";
  std::atomic<bool> done{false};
  std::thread attack([&] {
    test::run_process({"slowhttptest", "-H", "-c", "2000", "-r", "1000", "-i", "3", "-l", "14",
                       "-x", "16", "-p", "3", "-u", url},
                      40s);
    done = true;
  });
  std::this_thread::sleep_for(4s); // let the 2,000 connections build up
  WrkRun during = wrk(t.port(), 3);
  probe_during(o, t);
  o.rss_peak_kib = peak_rss(
      t, [] { return false; }, 500ms);
  o.cpu_stalled = cpu_share(t, 1000ms); // slow heads trickle in: little work
  attack.join();
  char line[160];
  std::snprintf(line, sizeof line,
                "hostile slowloris-wrk %s p99_ms_before=%.2f p99_ms_during=%.2f ratio=%.2f "
                "req_before=%ld req_during=%ld\n",
                TestType::name, before.p99_ms, during.p99_ms,
                before.p99_ms > 0 ? during.p99_ms / before.p99_ms : 0, before.requests,
                during.requests);
  std::cout << line;
  if (const char* path = std::getenv("LITHE_HOSTILE_REPORT"))
    std::ofstream(path, std::ios::app) << line;
  o.report();
  CHECK(during.requests > 0);
  CHECK(during.errors == 0);
  CHECK(o.rss_growth_kib() <= o.allowed_kib());
  CHECK(o.cpu_stalled < 0.3);
  CHECK(t.stop() == 0);
}

TEMPLATE_TEST_CASE("Pipelining without reading holds the server to the high-water mark",
                   "[hostile]", LITHE_BACKENDS) {
  raise_fd_limit();
  Target t("hello", TestType::name);
  warm_up(t);
  Attack o{.name = "pipeline-no-read", .backend = TestType::name, .connections = 20};
  o.rss_before_kib = t.rss_kib();
  std::vector<int> fds = open_connections(t.port(), o.connections);
  REQUIRE(fds.size() == o.connections);
  for (int fd : fds) {
    int small = 4096;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  }
  std::string burst;
  for (int i = 0; i < 100; ++i)
    burst += get("/");
  std::atomic<std::size_t> sent{0};
  std::atomic<bool> sending{true};
  std::thread attacker([&] { // as fast as the sockets take it, never reading
    for (auto until = std::chrono::steady_clock::now() + 3s;
         std::chrono::steady_clock::now() < until;)
      sent += send_each(fds, burst);
    sending = false;
  });
  o.rss_peak_kib = peak_rss(
      t, [&] { return !sending; }, 5s);
  attacker.join();
  INFO("bytes of requests sent: " << sent);
  CHECK(sent > 0);
  probe_during(o, t);
  finish(o, t);
  // Backpressure held them, not the budget: no connection had to be cut for its memory.
  INFO("server log: " << t.log());
  CHECK(t.log().find("memory") == std::string::npos);
  close_all(fds);
  CHECK(t.stop() == 0);
}

TEMPLATE_TEST_CASE("A flood of 1-byte chunks costs little and ends in 413", "[hostile]",
                   LITHE_BACKENDS) {
  raise_fd_limit();
  Target t("echo", TestType::name);
  warm_up(t);
  Attack o{.name = "chunk-flood", .backend = TestType::name, .connections = 50};
  o.rss_before_kib = t.rss_kib();
  std::vector<RawClient*> cs;
  std::vector<std::unique_ptr<RawClient>> own;
  for (std::size_t i = 0; i < o.connections; ++i) {
    own.push_back(std::make_unique<RawClient>(t.port()));
    REQUIRE(own.back()->send("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"));
  }
  std::string chunks;
  for (int i = 0; i < 10000; ++i)
    chunks += "1\r\nx\r\n"; // 6 bytes on the wire for each byte of body
  // 30,000 chunks each: under the body limit, held open.
  for (int round = 0; round < 3; ++round)
    for (auto& c : own)
      REQUIRE(c->send(chunks));
  o.rss_peak_kib = peak_rss(
      t, [] { return true; }, 0ms);
  probe_during(o, t);
  o.cpu_stalled = cpu_share(t, 1000ms);
  // Then past the limit (512 KiB of body, 592 KiB on the wire): each is refused.
  int refused = 0;
  for (auto& c : own) {
    for (int round = 0; round < 12 && c->send(chunks); ++round)
      ;
    auto r = c->read_response(5s);
    refused += r && r->status == 413;
  }
  o.rss_peak_kib = std::max(o.rss_peak_kib, t.rss_kib());
  o.report();
  CHECK(refused == static_cast<int>(o.connections));
  CHECK(o.rss_growth_kib() <= o.allowed_kib());
  CHECK(o.cpu_stalled < 0.3);
  CHECK(t.stop() == 0);
}

TEMPLATE_TEST_CASE("Slow readers of large bodies cost their high-water mark, not the body",
                   "[hostile]", LITHE_BACKENDS) {
  raise_fd_limit();
  // A 64 MiB file for lithe-static, and lithe-async's /stream (a DeferrableBody paced by
  // backpressure).
  TempDir dir;
  dir.sparse_file("big.bin", 64 << 20);
  dir.text_file("small.txt", "small\n");
  for (const char* app : {"static", "async"}) {
    std::vector<std::string> flags;
    if (std::string(app) == "static") flags = {"--root", dir.path()};
    Target t(app, TestType::name, flags);
    std::string path = std::string(app) == "static" ? "/big.bin" : "/stream/67108864";
    const std::string normal = std::string(app) == "static" ? "/small.txt" : "/stream/1000";
    warm_up(t, normal);
    Attack o{.name = std::string("slow-read-") + app, .backend = TestType::name, .connections = 50};
    o.rss_before_kib = t.rss_kib();
    std::vector<int> fds = open_connections(t.port(), o.connections);
    for (int c : fds) {
      int small = 8192;
      ::setsockopt(c, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    }
    std::this_thread::sleep_for(100ms); // connected
    send_each(fds, get(path));
    o.rss_peak_kib = peak_rss(
        t, [] { return false; }, 2s); // they read nothing
    probe_during(o, t, 5, normal);
    finish(o, t);
    close_all(fds);
    CHECK(t.stop() == 0);
  }
}

TEMPLATE_TEST_CASE("Range bombs: overlapping and many ranges of a large file", "[hostile]",
                   LITHE_BACKENDS) {
  raise_fd_limit();
  TempDir dir;
  dir.sparse_file("big.bin", 100 << 20);
  dir.text_file("small.txt", "small\n");
  Target t("static", TestType::name, {"--root", dir.path()});
  warm_up(t, "/small.txt");
  Attack o{.name = "range-bomb", .backend = TestType::name, .connections = 40};
  o.rss_before_kib = t.rss_kib();
  std::string overlapping = "bytes=0-";
  for (int i = 1; i < 16; ++i)
    overlapping += "," + std::to_string(i) + "-";
  std::string many = "bytes=0-0";
  for (int i = 2; i < 4000; i += 2)
    many += "," + std::to_string(i) + "-" + std::to_string(i);
  std::vector<int> fds = open_connections(t.port(), o.connections);
  for (int c : fds) {
    int small = 8192;
    ::setsockopt(c, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  }
  std::this_thread::sleep_for(100ms); // connected
  std::size_t i = 0;
  for (int c : fds) {
    std::string method = i % 2 ? "HEAD" : "GET";
    std::string range = i % 4 < 2 ? overlapping : many;
    std::string req = method + " /big.bin HTTP/1.1\r\nHost: t\r\nRange: " + range + "\r\n\r\n";
    ::send(c, req.data(), req.size(), MSG_NOSIGNAL);
    ++i;
  }
  o.rss_peak_kib = peak_rss(
      t, [] { return false; }, 2s); // unread answers wait
  probe_during(o, t, 5, "/small.txt");
  // A reading client gets an answer at once, whatever the server chose to send.
  RawClient c(t.port());
  REQUIRE(c.send("HEAD /big.bin HTTP/1.1\r\nHost: t\r\nRange: " + overlapping + "\r\n\r\n"));
  auto r = c.read_response(3s, true);
  REQUIRE(r);
  CHECK((r->status == 200 || r->status == 206 || r->status == 416));
  finish(o, t);
  close_all(fds);
  CHECK(t.stop() == 0);
}

TEMPLATE_TEST_CASE("Silent and half-closed connections are dropped by their timers", "[hostile]",
                   LITHE_BACKENDS) {
  raise_fd_limit();
  Target t("hello", TestType::name, {"--header-timeout", "1s"});
  warm_up(t);
  Attack o{.name = "silent-half-open", .backend = TestType::name, .connections = 3000};
  o.rss_before_kib = t.rss_kib();
  std::vector<int> silent = open_connections(t.port(), 1000);      // connect, say nothing
  std::vector<int> partial = open_connections(t.port(), 1000);     // half a head, then silence
  std::vector<int> half_closed = open_connections(t.port(), 1000); // half a head, then FIN
  REQUIRE(silent.size() + partial.size() + half_closed.size() == o.connections);
  std::this_thread::sleep_for(200ms); // connected
  send_each(partial, "GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ");
  send_each(half_closed, "GET / HTTP/1.1\r\nHo");
  for (int fd : half_closed)
    ::shutdown(fd, SHUT_WR);
  o.rss_peak_kib = peak_rss(
      t, [] { return false; }, 300ms);
  probe_during(o, t);
  int dropped = 0;
  for (auto* set : {&silent, &partial, &half_closed})
    for (int fd : *set)
      dropped += closed_by_server(fd, 5s);
  CHECK(dropped == static_cast<int>(o.connections));
  finish(o, t);
  for (auto* set : {&silent, &partial, &half_closed})
    close_all(*set);
  CHECK(t.stop() == 0);
}

TEMPLATE_TEST_CASE("Clients that leave in every phase leave nothing behind", "[hostile]",
                   LITHE_BACKENDS) {
  raise_fd_limit();
  Target t("async", TestType::name);
  warm_up(t);
  Attack o{.name = "leave-every-phase", .backend = TestType::name, .connections = 7 * 100};
  o.rss_before_kib = t.rss_kib();
  auto abort_close = [](int fd) {
    linger l{1, 0}; // RST instead of FIN: the client vanishes
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::close(fd);
  };
  for (int round = 0; round < 100; ++round) {
    std::vector<std::pair<int, std::string>> phases;
    auto add = [&](std::string bytes) {
      std::vector<int> one = open_connections(t.port(), 1);
      REQUIRE(one.size() == 1);
      phases.emplace_back(one[0], std::move(bytes));
    };
    add("");                                                              // just connected
    add("GET /delay/1000 HTTP/1.1\r\nHo");                                // mid-head
    add("POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc"); // mid-body
    add(get("/delay/1000"));                                              // awaiting an answer
    add(get("/stream/10000000"));                                         // mid-response
    add(get("/co/1000"));                                                 // in a coroutine
    add(get("/async"));                                                   // mid-chunked stream
    std::this_thread::sleep_for(2ms); // let the connects complete
    for (auto& [fd, bytes] : phases)
      if (!bytes.empty()) ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    std::this_thread::sleep_for(5ms); // and the requests arrive: the server is mid-phase
    for (std::size_t i = 0; i < phases.size(); ++i)
      if (i % 2)
        abort_close(phases[i].first);
      else
        ::close(phases[i].first);
  }
  o.rss_peak_kib = peak_rss(
      t, [] { return false; }, 300ms);
  probe_during(o, t);
  finish(o, t);
  REQUIRE(t.stop() == 0);
  std::string log = t.log();
  INFO(log);
  CHECK(log.find("left alive: 0 exchanges, 0 bodies, 0 sockets") != std::string::npos);
}

TEMPLATE_TEST_CASE("Connections up to the fd limit: the server backs off, keeps serving, and "
                   "recovers",
                   "[hostile]", LITHE_BACKENDS) {
  raise_fd_limit();
  // With 256 descriptors and no connection limit of its own, accept() fails with EMFILE.
  Target t("hello", TestType::name, {"--max-connections", "100000"}, 256);
  warm_up(t);
  Attack o{.name = "fd-exhaustion", .backend = TestType::name, .connections = 600};
  RawClient kept(t.port()); // a keep-alive client from before the flood
  REQUIRE(kept.send(get("/")));
  REQUIRE(kept.read_response());
  o.rss_before_kib = t.rss_kib();
  std::vector<int> flood = open_connections(t.port(), o.connections);
  std::this_thread::sleep_for(500ms); // the server takes what it can, then hits EMFILE
  o.rss_peak_kib = peak_rss(
      t, [] { return false; }, 300ms);
  o.cpu_stalled = cpu_share(t, 1000ms); // backing off, not spinning on the listener
  for (int i = 0; i < 5; ++i) {         // the connection it already had is served
    auto start = std::chrono::steady_clock::now();
    REQUIRE(kept.send(get("/")));
    auto r = kept.read_response(3s);
    REQUIRE(r);
    o.probes.push_back(std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - start));
  }
  close_all(flood);
  // Once descriptors are free again, new clients get in.
  std::optional<std::chrono::microseconds> after;
  for (auto until = std::chrono::steady_clock::now() + 10s;
       !after && std::chrono::steady_clock::now() < until;)
    after = probe(t.port(), "/", 2s);
  CHECK(after);
  o.report();
  CHECK(o.rss_growth_kib() <= o.allowed_kib());
  CHECK(o.cpu_stalled < 0.3);
  CHECK(t.stop() == 0);
}

TEMPLATE_TEST_CASE("At --max-connections new connections wait in the backlog, open ones are "
                   "served",
                   "[hostile]", LITHE_BACKENDS) {
  raise_fd_limit();
  Target t("hello", TestType::name, {"--max-connections", "100"});
  warm_up(t);
  Attack o{.name = "max-connections", .backend = TestType::name, .connections = 400};
  RawClient kept(t.port());
  REQUIRE(kept.send(get("/")));
  REQUIRE(kept.read_response());
  o.rss_before_kib = t.rss_kib();
  std::vector<int> flood = open_connections(t.port(), o.connections);
  std::this_thread::sleep_for(500ms); // 99 more accepted, the rest in the kernel's backlog
  o.rss_peak_kib = peak_rss(
      t, [] { return false; }, 300ms);
  o.cpu_stalled = cpu_share(t, 1000ms);
  for (int i = 0; i < 5; ++i) {
    auto start = std::chrono::steady_clock::now();
    REQUIRE(kept.send(get("/")));
    REQUIRE(kept.read_response(3s));
    o.probes.push_back(std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - start));
  }
  // A new client waits while the limit holds; it is served when the flood goes.
  RawClient waiting(t.port());
  REQUIRE(waiting.send(get("/")));
  CHECK_FALSE(waiting.read_response(300ms));
  close_all(flood);
  CHECK(waiting.read_response(5s));
  o.report();
  CHECK(o.rss_growth_kib() <= o.allowed_kib());
  CHECK(o.cpu_stalled < 0.3);
  CHECK(t.stop() == 0);
}
