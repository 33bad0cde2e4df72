// Zero-downtime restarts (SIGUSR2, docs/deploy.md) of whole app processes on every backend:
// wrk loses no request across two restarts, an open WebSocket gets a clean 1001 and a new one
// reaches the new process, an SSE client reconnects with Last-Event-ID and misses no message
// published around the restart (lithe-chat --redis, a redis-server of the test's own), and a
// new process that exits or never gets ready leaves the old one serving.
#include "support/app_process.hpp"
#include "support/backends.hpp"
#include "support/chat_client.hpp"
#include "support/dev_certs.hpp"
#include "support/net_client.hpp"
#include "support/redis_server.hpp"
#include "support/ws_client.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sys/stat.h>
#include <thread>

using namespace lithe;
using namespace lithe::test;

namespace {

/// Responses with a 2xx status that the process on `port` counted (--metrics /metrics).
long served(std::uint16_t port) {
  RawClient c(port);
  c.send(get("/metrics"));
  auto r = c.read_response();
  if (!r || r->status != 200) return -1;
  std::smatch m;
  static const std::regex ok(R"(lithe_requests_total\{code="2xx"\} (\d+))");
  return std::regex_search(r->body, m, ok) ? std::stol(m[1]) : 0;
}

/// Polls (bounded) until the process on `port` has answered `n` requests with a 2xx.
bool serves_load(std::uint16_t port, long n, std::chrono::milliseconds within = 10s) {
  auto until = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < until) {
    if (served(port) >= n) return true;
    std::this_thread::sleep_for(10ms); // polling a counter, bounded
  }
  return false;
}

std::size_t count(const std::string& text, std::string_view what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

/// A copy of lithe-NAME in a directory of its own, so the test may replace the file (a deploy).
std::string copy_of(std::string_view name) {
  std::string path = scratch_dir() + "/lithe-" + std::string(name);
  std::filesystem::copy_file(app_path(name), path);
  return path;
}

/// Replaces the program at `path` as a deploy does (a new file renamed over it).
void install(const std::string& path, const std::string& script) {
  std::string tmp = path + ".new";
  std::ofstream(tmp) << script;
  ::chmod(tmp.c_str(), 0755);
  std::filesystem::rename(tmp, path);
}

/// SIGUSR2 to `app`, whose new program fails: the old process says `why`, and goes on.
void restart_fails(RestartingApp& app, pid_t old, std::string_view why) {
  REQUIRE(app.signal_restart());
  REQUIRE(app.err_contains("restart failed", 20s));
  CHECK(app.err_contains(why));
  CHECK(app.pid_file_pid() == old);
  RawClient c(app.port()); // answered by the old process, the only one
  REQUIRE(c.send(get("/")));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
}

} // namespace

TEMPLATE_TEST_CASE("wrk running across two restarts of lithe-hello loses no request", "[restart]",
                   LITHE_BACKENDS) {
  RestartingApp app("hello", TestType::name, {"--threads", "2", "--metrics", "/metrics"});
  const pid_t first = app.pid();
  ProcessResult wrk;
  std::thread load([&] {
    wrk = run_process(
        {"wrk", "-t2", "-c32", "-d8s", "http://127.0.0.1:" + std::to_string(app.port()) + "/"},
        30s);
  });
  REQUIRE(serves_load(app.port(), 1000)); // under load before the first restart
  const pid_t second = app.restart();
  REQUIRE(second > 0);
  REQUIRE(serves_load(app.port(), 1000)); // the new process under load too
  const pid_t third = app.restart();
  load.join();
  REQUIRE(third > 0);
  CHECK(first != second);
  CHECK(second != third);
  INFO(wrk.out << wrk.err << app.err());
  CHECK(wrk.exit_code == 0);
  CHECK(wrk.out.find("requests in") != std::string::npos);
  CHECK(wrk.out.find("Socket errors") == std::string::npos); // connect, read, write, timeout
  CHECK(wrk.out.find("Non-2xx") == std::string::npos);
  CHECK(count(app.err(), "stopping after handing over to pid") == 2);
  CHECK(served(app.port()) > 0); // the third process served wrk after the second restart
}

TEMPLATE_TEST_CASE("At a restart an open WebSocket gets a clean 1001 and a new one reaches the "
                   "new process",
                   "[restart]", LITHE_BACKENDS) {
  RestartingApp app("echo", TestType::name, {});
  auto ws = open_ws(app.port(), "/");
  REQUIRE(ws);
  REQUIRE(ws->send(client_frame(0x81, "before")));
  auto echoed = read_frame(*ws);
  REQUIRE(echoed);
  CHECK(echoed->payload == "before");

  const pid_t old = app.pid();
  REQUIRE(app.signal_restart());
  auto close = read_frame(*ws, 20s); // once the new process listens, the old one drains
  REQUIRE(close);
  CHECK(close->opcode == 0x8);
  CHECK(close->code() == 1001);
  REQUIRE(ws->send(client_frame(0x88, std::string("\x03\xe9", 2)))); // our close: 1001 back
  CHECK(ws->closed_by_peer());
  const pid_t now = app.await_restart();
  REQUIRE(now > 0);
  CHECK(now != old);

  auto again = open_ws(app.port(), "/"); // the old process has exited: this is the new one
  REQUIRE(again);
  REQUIRE(again->send(client_frame(0x81, "after")));
  auto reply = read_frame(*again);
  REQUIRE(reply);
  CHECK(reply->payload == "after");
}

TEMPLATE_TEST_CASE("With --redis an SSE client reconnecting with Last-Event-ID after a restart "
                   "misses no message published around it",
                   "[restart][redis]", LITHE_BACKENDS) {
  RedisServer redis;
  RestartingApp app("chat", TestType::name, {"--redis", redis.url()});
  auto sse = std::make_unique<RawClient>(app.port());
  REQUIRE(sse->send(get("/events")));
  REQUIRE(sse->read_until(": connected\n\n").ends_with(": connected\n\n"));

  ChatPublisher publisher(app.port());
  std::string got = sse->read_until(chat_text(20), 10s); // messages are flowing
  REQUIRE(got.ends_with(chat_text(20)));
  REQUIRE(app.signal_restart());
  got += sse->read_until("\r\n0\r\n\r\n", 20s); // the old process ends the stream
  REQUIRE(got.ends_with("\r\n0\r\n\r\n"));
  sse.reset(); // as EventSource does, it closes that connection
  std::string last_id;
  static const std::regex id(R"(\nid: (\d+)\n)");
  for (auto it = std::sregex_iterator(got.begin(), got.end(), id); it != std::sregex_iterator();
       ++it)
    last_id = (*it)[1];
  REQUIRE(!last_id.empty());

  // And connects again with the last id it saw (the new process answers: the old one stopped
  // accepting before it ended the stream), reading on while the old process drains.
  RawClient again(app.port());
  REQUIRE(again.send(get("/events", "Last-Event-ID: " + last_id + "\r\n")));
  const std::string the_end = "\"text\":\"end\"";
  std::string after;
  std::thread reader([&] { after = again.read_until(the_end, 60s); });
  const pid_t now = app.await_restart();
  bool more = now > 0 && publisher.wait_sent(publisher.sent() + 50); // with the new one alone
  const int sent = publisher.finish();
  RawClient end(app.port());
  end.send("POST /say HTTP/1.1\r\nHost: t\r\nContent-Type: "
           "application/x-www-form-urlencoded\r\nContent-Length: 8\r\n\r\ntext=end");
  auto answer = end.read_response();
  reader.join();
  REQUIRE(now > 0);
  CHECK(more);
  REQUIRE(answer);
  CHECK(answer->status == 204);
  INFO(app.err() << "\nthe second stream: " << after.substr(0, 600) << " ... "
                 << (after.size() > 600 ? after.substr(after.size() - 300) : std::string()));
  REQUIRE(after.ends_with(the_end));
  CHECK(publisher.failed() == 0);
  // Once each, across the two streams; in any order: during the overlap both processes take
  // posts, and each publishes to Redis on its own.
  std::vector<int> numbers_got = chat_messages(got + after);
  INFO("lacking or repeated:" << difference(numbers_got, sent));
  CHECK(sorted(numbers_got) == numbers(sent));
}

TEMPLATE_TEST_CASE("A new process that exits at once leaves the old one serving, and a later "
                   "restart with a good binary succeeds",
                   "[restart]", LITHE_BACKENDS) {
  const std::string path = copy_of("hello");
  const std::string good = path + ".good";
  std::filesystem::copy_file(path, good);
  RestartingApp app(path, TestType::name, {});
  const pid_t old = app.pid();
  install(path, "#!/bin/sh\nexit 3\n");
  restart_fails(app, old, "exited with status 3 before it was ready");

  std::filesystem::rename(good, path); // the fixed deploy
  const pid_t now = app.restart();
  CHECK(now > 0);
  CHECK(now != old);
}

TEMPLATE_TEST_CASE("A new process not ready within --restart-timeout is stopped and the old one "
                   "goes on serving",
                   "[restart]", LITHE_BACKENDS) {
  const std::string path = copy_of("hello");
  RestartingApp app(path, TestType::name, {"--restart-timeout", "300ms"});
  const pid_t old = app.pid();
  install(path, "#!/bin/sh\nexec sleep 60\n");
  restart_fails(app, old, "was not ready within 300 ms; stopped it");
}
