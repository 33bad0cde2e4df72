// The request middleware under attack (issue #18), over real sockets on every backend, against
// lithe-mw-target (tests/hostile/mw_target): floods of huge and numerous Cookie headers with
// thousands of distinct forged session cookies, and a rate-limit key-rotation flood. Each checks
// bounded memory, no spinning, normal clients answered.
#include "hostile.hpp"
#include "support/backends.hpp"

#include <catch2/catch.hpp>

#include <random>

using namespace lithe;
using namespace lithe::hostile;
using lithe::test::RawClient;

namespace {

void warm_up(Target& t) {
  for (int i = 0; i < 20; ++i)
    REQUIRE(probe(t.port(), "/"));
}

std::string random_token(std::mt19937& rng, std::size_t n) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string s(n, 'A');
  for (char& c : s)
    c = alphabet[rng() % 64];
  return s;
}

/// `n` requests pipelined on `c`, each from `make(i)`, then all their answers; false if one
/// did not come or was not `status`.
template <class F> bool round_trip(RawClient& c, int n, F make, int status = 200) {
  std::string batch;
  for (int i = 0; i < n; ++i)
    batch += make(i);
  if (!c.send(batch)) return false;
  for (int i = 0; i < n; ++i) {
    auto r = c.read_response();
    if (!r || r->status != status) return false;
  }
  return true;
}

} // namespace

TEMPLATE_TEST_CASE("Floods of huge Cookie headers and thousands of forged session cookies hold "
                   "nothing after each request",
                   "[hostile]", LITHE_BACKENDS) {
  Target t("mw-target", TestType::name);
  warm_up(t);
  Attack o{.name = "cookie-flood", .backend = TestType::name, .connections = 8};
  std::mt19937 rng(18);
  // 60 Cookie headers of four 50-byte cookies each and a forged session: 13 KiB of head, 241
  // cookies, under both the engine's head limit and the parser's bounds.
  std::string cookies;
  for (int h = 0; h < 60; ++h) {
    cookies += "Cookie: ";
    for (int k = 0; k < 4; ++k)
      cookies += "c" + std::to_string(h * 4 + k) + "=" + std::string(50, 'v') + "; ";
    cookies += "\r\n";
  }
  std::vector<std::unique_ptr<RawClient>> clients;
  for (std::size_t i = 0; i < o.connections; ++i)
    clients.push_back(std::make_unique<RawClient>(t.port()));
  auto request = [&](int) {
    return "GET / HTTP/1.1\r\nHost: t\r\n" + cookies +
           "Cookie: lithe.session=" + random_token(rng, 100 + rng() % 400) + "\r\n\r\n";
  };
  REQUIRE(round_trip(*clients[0], 1, request));
  o.rss_before_kib = t.rss_kib();
  std::size_t sent = 0;
  bool all_ok = true;
  auto until = std::chrono::steady_clock::now() + 2s;
  o.rss_peak_kib = peak_rss(
      t,
      [&] {
        for (auto& c : clients) {
          all_ok = round_trip(*c, 20, request) && all_ok;
          sent += 20;
        }
        return std::chrono::steady_clock::now() > until || !all_ok;
      },
      5s);
  CHECK(all_ok);
  CHECK(sent >= 2000); // thousands of distinct session cookies
  probe_during(o, t);

  // More cookies than the parser reads: it reads 256 and stops.
  RawClient many(t.port());
  std::string tiny = "Cookie: ";
  for (int i = 0; i < 1000; ++i)
    tiny += "k" + std::to_string(i) + "=1;";
  many.send("GET / HTTP/1.1\r\nHost: t\r\n" + tiny + "\r\n\r\n");
  auto r = many.read_response();
  REQUIRE(r);
  CHECK(r->body == "nobody 256\n");
  // Past the head limit: 431 from the engine, before any middleware.
  std::string huge =
      "GET / HTTP/1.1\r\nHost: t\r\nCookie: a=" + std::string(20000, 'x') + "\r\n\r\n";
  RawClient over(t.port());
  over.send(huge);
  r = over.read_response();
  REQUIRE(r);
  CHECK(r->status == 431);
  finish(o, t);
  CHECK(t.stop() == 0);
}

TEMPLATE_TEST_CASE("A client rotating rate-limit keys cannot grow the server's memory past the "
                   "key bound",
                   "[hostile]", LITHE_BACKENDS) {
  Target t("mw-target", TestType::name);
  warm_up(t);
  Attack o{.name = "rate-key-rotation", .backend = TestType::name, .connections = 2};
  RawClient a(t.port()), b(t.port());
  int next_key = 0;
  auto rotating = [&](int) {
    return "GET / HTTP/1.1\r\nHost: t\r\nX-Key: k" + std::to_string(next_key++) + "\r\n\r\n";
  };
  // Fill the table (1,000 keys per worker) and then some, before measuring.
  for (int i = 0; i < 50; ++i) {
    REQUIRE(round_trip(a, 100, rotating));
    REQUIRE(round_trip(b, 100, rotating));
  }
  o.rss_before_kib = t.rss_kib();
  bool all_ok = true;
  o.rss_peak_kib = peak_rss(
      t,
      [&] {
        all_ok = round_trip(a, 100, rotating) && round_trip(b, 100, rotating) && all_ok;
        return next_key >= 60'000 || !all_ok;
      },
      30s);
  CHECK(all_ok);
  CHECK(next_key >= 60'000);
#ifndef LITHE_SANITIZED
  // 50,000 more keys held would be several MiB; the bound keeps 1,000 per worker.
  CHECK(o.rss_growth_kib() < 2048);
#endif
  // The limit itself still holds for a key used again.
  auto same = [](int) { return std::string("GET / HTTP/1.1\r\nHost: t\r\nX-Key: again\r\n\r\n"); };
  CHECK(round_trip(a, 2, same));
  CHECK(round_trip(a, 1, same, 429));
  probe_during(o, t);
  finish(o, t);
  CHECK(t.stop() == 0);
}
