// Streamed request bodies over real sockets on every backend (SPEC 2.13), with curl: large
// bodies read as they arrive (Content-Length and chunked), 100 Continue, a route's limit
// refused before the body is sent, a route that does not stream getting its body whole, and
// pipelining after a streamed body.
#include "support/backends.hpp"
#include "support/net_client.hpp"

#include <lithe/co.hpp>
#include <lithe/mw/router.hpp>

#include <catch2/catch.hpp>

using namespace lithe;
using namespace lithe::test;

namespace {

// FNV-1a, 64 bits: a digest the test computes the same way.
std::uint64_t fnv(std::uint64_t h, std::string_view bytes) {
  for (unsigned char c : bytes)
    h = (h ^ c) * 0x100000001b3ULL;
  return h;
}
constexpr std::uint64_t fnv_start = 0xcbf29ce484222325ULL;

App upload_app() {
  mw::Router r;
  r.post("/digest",
         [](Env& env) -> Co<Response> {
           std::uint64_t h = fnv_start, n = 0;
           int pieces = 0;
           for (;;) {
             InputChunk c = co_await env.input().read();
             if (c.end) break;
             h = fnv(h, c.data);
             n += c.data.size();
             ++pieces;
           }
           co_return Response{200, {}, std::to_string(n) + " " + std::to_string(h)};
         },
         {.stream = true, .max_body = 64 << 20});
  r.post("/small",
         [](Env&) -> Response {
           return {200, {}, "never"};
         },
         {.stream = true, .max_body = 1000});
  r.post("/whole", [](Env& env) -> Response { // not streaming: the router gathers the body
    return {200,
            {},
            std::to_string(env.body().size()) + " " + std::to_string(fnv(fnv_start, env.body()))};
  });
  return r;
}

HttpOptions streaming() {
  HttpOptions o;
  o.stream_bodies = true;
  return o;
}

} // namespace

TEMPLATE_TEST_CASE("curl uploads 20 MB bodies read as they arrive, whole and in order",
                   "[http][upload][curl]", LITHE_BACKENDS) {
  TestServer s(TestType::name, upload_app(), streaming());
  std::string body = big_body(20 << 20);
  std::string want = std::to_string(body.size()) + " " + std::to_string(fnv(fnv_start, body));
  auto r = run_process({"curl", "-sS", "--max-time", "20", "--data-binary", "@-", s.url("/digest")},
                       30s, body); // Content-Length, with Expect: 100-continue
  CHECK(r.exit_code == 0);
  CHECK(r.out == want);
  r = run_process({"curl", "-sS", "--max-time", "20", "-H", "Transfer-Encoding: chunked",
                   "--data-binary", "@-", s.url("/digest")},
                  30s, body);
  CHECK(r.exit_code == 0);
  CHECK(r.out == want);
}

TEMPLATE_TEST_CASE("A body over a route's limit is refused before it is sent, and a route that "
                   "does not stream gets its body whole",
                   "[http][upload][curl]", LITHE_BACKENDS) {
  TestServer s(TestType::name, upload_app(), streaming());
  auto r = run_process({"curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w",
                        "%{http_code} %{size_upload}", "--data-binary", "@-", s.url("/small")},
                       20s, std::string(2 << 20, 'x'));
  CHECK(r.out.starts_with("413 ")); // answered at the head: curl did not send 2 MB
  CHECK(r.out != "413 2097152");
  std::string body = big_body(300000);
  r = run_process({"curl", "-sS", "--max-time", "10", "-H", "Transfer-Encoding: chunked",
                   "--data-binary", "@-", s.url("/whole")},
                  20s, body);
  CHECK(r.out == std::to_string(body.size()) + " " + std::to_string(fnv(fnv_start, body)));
}

TEMPLATE_TEST_CASE("A request pipelined after a streamed body is answered after it",
                   "[http][upload]", LITHE_BACKENDS) {
  TestServer s(TestType::name, upload_app(), streaming());
  RawClient c(s.port());
  std::string body(100000, 'p');
  REQUIRE(c.send("POST /digest HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n"));
  REQUIRE(c.send_in_pieces(body + "POST /whole HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nok",
                           7000));
  auto first = c.read_response();
  REQUIRE(first);
  CHECK(first->body == "100000 " + std::to_string(fnv(fnv_start, body)));
  auto second = c.read_response();
  REQUIRE(second);
  CHECK(second->body == "2 " + std::to_string(fnv(fnv_start, "ok")));
}
