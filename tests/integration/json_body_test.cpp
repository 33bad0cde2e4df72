// The JSON module over real sockets on every backend, with curl posting valid, malformed, too
// deep and too large bodies, read whole by the engine and streamed (read_all, bounded).
#include "support/backends.hpp"
#include "support/net_client.hpp"

#include <lithe/mw/json_body.hpp>

#include <catch2/catch.hpp>

using namespace lithe;
using namespace lithe::test;

namespace {

App todo_api() {
  return mw::json_body({.limits = {.max_bytes = 64 * 1024, .max_depth = 16},
                        .require_json = true})([](Env& env) -> Response {
    const nlohmann::json* body = mw::request_json(env);
    if (!body) return mw::json_response(200, nlohmann::json::array());
    return mw::json_response(201, {{"title", body->value("title", "")}, {"size", body->size()}});
  });
}

ProcessResult post(const TestServer& s, std::string body,
                   std::string type = "Content-Type: application/json") {
  return run_process(s.curl({"-w", "\n%{http_code}", "-H", type, "--data-binary", "@-", s.url()}),
                     20s, body);
}

void check_bodies(const TestServer& s) {
  auto r = post(s, R"({"title":"write docs","done":false})");
  CHECK(r.exit_code == 0);
  CHECK(r.out == "{\"size\":2,\"title\":\"write docs\"}\n201");
  r = post(s, R"({"title": tru})");
  CHECK(r.out.starts_with("{\"error\":\"malformed JSON at byte "));
  CHECK(r.out.ends_with("\n400"));
  r = post(s, std::string(1000, '[') + std::string(1000, ']'));
  CHECK(r.out == "{\"error\":\"JSON nested deeper than 16 levels\"}\n400");
  r = post(s, "[" + std::string(70000, '1') + "]");
  CHECK(r.out.ends_with("\n413"));
  r = post(s, "title=x", "Content-Type: application/x-www-form-urlencoded");
  CHECK(r.out.ends_with("\n415"));
}

} // namespace

TEMPLATE_TEST_CASE("curl posts valid, malformed, too deep and too large JSON: 201, 400, 400, 413",
                   "[json]", LITHE_BACKENDS) {
  TestServer s(TestType{}, todo_api());
  check_bodies(s);
  CHECK(s.settles());
}

TEMPLATE_TEST_CASE("The same with streamed request bodies, gathered within the limit", "[json]",
                   LITHE_BACKENDS) {
  HttpOptions streamed;
  streamed.stream_bodies = true;
  TestServer s(TestType{}, todo_api(), streamed);
  check_bodies(s);
  CHECK(s.settles());
}
