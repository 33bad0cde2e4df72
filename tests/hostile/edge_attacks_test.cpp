// Floods at the request layer's parsers (issue #18): JSON bodies nested as deep as they go, and
// X-Forwarded-For / Forwarded chains as long as a head may be, from a trusted peer so that they
// are read. Each holds memory within its connections' budgets, does not spin, and a normal
// client is answered meanwhile.
#include "hostile.hpp"
#include "support/backends.hpp"

#include <catch2/catch.hpp>

#include <atomic>

using namespace lithe::hostile;
using lithe::test::RawClient;

namespace {

/// `n` clients, each on its own connection and thread, sending `request` (`per` pipelined
/// requests) and reading the answers again and again until `until`; how many came, and how many
/// were not `status`.
struct Flood {
  std::atomic<int> answered{0}, wrong{0};
  std::vector<std::thread> threads;
  Flood(std::uint16_t port, int n, std::string request, int per, int status,
        std::chrono::steady_clock::time_point until) {
    for (int i = 0; i < n; ++i)
      threads.emplace_back([this, port, request, per, status, until] {
        auto c = std::make_unique<RawClient>(port);
        while (std::chrono::steady_clock::now() < until) {
          if (!c->send(request)) break;
          for (int k = 0; k < per; ++k) {
            auto r = c->read_response(5s);
            if (!r) return;
            ++answered;
            if (r->status != status) ++wrong;
          }
        }
      });
  }
  void join() {
    for (auto& t : threads)
      t.join();
  }
};

std::string post_json(std::string_view body) {
  return "POST /json HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

void run_flood(Attack& a, Target& t, const std::string& request, int per, int status) {
  for (int i = 0; i < 20; ++i)
    REQUIRE(probe(t.port(), "/"));
  a.rss_before_kib = t.rss_kib();
  auto until = std::chrono::steady_clock::now() + 2s;
  Flood f(t.port(), static_cast<int>(a.connections), request, per, status, until);
  a.rss_peak_kib = peak_rss(
      t, [&] { return std::chrono::steady_clock::now() > until; }, 3s);
  probe_during(a, t);
  f.join();
  INFO(a.name << ": " << f.answered << " answers");
  CHECK(f.answered > static_cast<int>(a.connections));
  CHECK(f.wrong == 0);
  finish(a, t);
}

} // namespace

TEMPLATE_TEST_CASE("Deeply nested JSON bodies are refused at the depth limit, memory and CPU "
                   "bounded",
                   "[hostile][json]", LITHE_BACKENDS) {
  Target t("hostile-edge", TestType::name);
  Attack a{.name = "json-deep-nesting", .backend = TestType::name, .connections = 16};
  run_flood(a, t, post_json(std::string(256 * 1024, '[')), 1, 400);
  CHECK(t.stop() == 0);
}

TEMPLATE_TEST_CASE("X-Forwarded-For and Forwarded chains of thousands of hops from a trusted "
                   "peer: bounded, and the peer's address stands",
                   "[hostile][client_ip]", LITHE_BACKENDS) {
  Target t("hostile-edge", TestType::name);
  // Trusted hops (127/8) beyond max_hops within 8 KiB, then past 8 KiB: both ignored.
  std::string hops, long_hops;
  for (int i = 0; i < 700; ++i)
    hops += "127.0.0." + std::to_string(i % 250) + ",";
  for (int i = 0; i < 1000; ++i)
    long_hops += "for=127.0.0.1,";
  std::string request = "GET / HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 203.0.113.9," + hops +
                        "\r\n\r\nGET /fwd HTTP/1.1\r\nHost: t\r\nForwarded: for=203.0.113.9," +
                        long_hops + "for=127.0.0.1\r\n\r\n";
  Attack a{.name = "forwarded-chain-flood", .backend = TestType::name, .connections = 16};
  run_flood(a, t, request, 2, 200);
  // And the answer is the peer's address, not the chain's left-most.
  RawClient c(t.port());
  REQUIRE(c.send(request));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->body == "127.0.0.1");
  r = c.read_response();
  REQUIRE(r);
  CHECK(r->body == "127.0.0.1");
  CHECK(t.stop() == 0);
}
