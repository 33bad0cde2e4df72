// The common command line (server/src/server.cpp): every limit and timeout of issue #15 is a
// flag, sizes and times take units, and a wrong value names the flag.
#include <catch2/catch.hpp>
#include <lithe/server.hpp>

#include <string>
#include <vector>

using namespace lithe;
using namespace std::chrono_literals;

namespace {
CommandLine parse(std::vector<const char*> args) {
  args.insert(args.begin(), "lithe-test");
  return parse_command_line(static_cast<int>(args.size()), args.data(), ServerOptions{});
}
} // namespace

TEST_CASE("Limits and timeouts are flags, with size and time units") {
  CommandLine cl = parse({"--max-connections",
                          "5000",
                          "--max-connection-memory",
                          "2M",
                          "--max-body=64k",
                          "--max-header",
                          "8192",
                          "--high-water",
                          "32k",
                          "--header-timeout",
                          "5s",
                          "--body-timeout",
                          "1500ms",
                          "--idle-timeout",
                          "2m",
                          "--send-timeout",
                          "90",
                          "--pool-threads",
                          "8",
                          "--pool-queue",
                          "100"});
  REQUIRE(cl.error.empty());
  const ServerOptions& o = cl.server;
  CHECK(o.listen.max_connections == 5000);
  CHECK(o.http.max_connection_memory == 2u << 20);
  CHECK(o.http.max_body_bytes == 64u << 10);
  CHECK(o.http.max_header_bytes == 8192);
  CHECK(o.http.high_water == 32u << 10);
  CHECK(o.http.header_timeout == 5s);
  CHECK(o.http.body_timeout == 1500ms);
  CHECK(o.http.idle_timeout == 2min);
  CHECK(o.http.send_timeout == 90ms); // a bare number is milliseconds
  CHECK(o.thread_pool.threads == 8);
  CHECK(o.thread_pool.max_queued == 100);
}

TEST_CASE("A wrong limit names the flag and what it takes") {
  CHECK(parse({"--max-body", "3X"}).error.find("--max-body must be a size") != std::string::npos);
  CHECK(parse({"--max-connection-memory", "0"}).error.find("--max-connection-memory") !=
        std::string::npos);
  CHECK(parse({"--header-timeout", "soon"}).error.find("--header-timeout must be a time") !=
        std::string::npos);
  CHECK(parse({"--max-connections", "-1"}).error.find("--max-connections") != std::string::npos);
  CHECK(parse({"--pool-threads", "0"}).error.find("--pool-threads") != std::string::npos);
}

TEST_CASE("The defaults hold a connection to 1 MiB and its request body within it") {
  HttpOptions h;
  CHECK(h.max_connection_memory == 1u << 20);
  CHECK(h.max_body_bytes + h.max_header_bytes + h.high_water < h.max_connection_memory);
  ListenConfig l;
  l.threads = 2;
  CHECK(connections_per_worker(l) >= 1); // a share of RLIMIT_NOFILE
  l.max_connections = 7;
  CHECK(connections_per_worker(l) == 7);
}
