// Cors over real sockets on every backend, plain and TLS, with curl: preflights from an allowed
// origin answered 204 without the app, from a refused one passed on bare; actual requests,
// credentialed and late ones, echoed or refused; Vary: Origin on each.
#include "support/backends.hpp"
#include "support/net_client.hpp"

#include <lithe/mw/cors.hpp>

#include <catch2/catch.hpp>

#include <atomic>

using namespace lithe;
using namespace lithe::test;

namespace {

std::atomic<int> app_calls{0};

App api() {
  return [](Env& env) -> Response {
    ++app_calls;
    if (env.path() == "/late") {
      env.loop().add_timer(Millis(20), [cb = env.async_callback()] {
        cb({200, {{"Content-Type", "text/plain"}}, "late"});
      });
      return async;
    }
    return {200, {{"Content-Type", "text/plain"}}, "ok"};
  };
}

/// The response head curl saw (-D -), lower-cased names: "name: value" lines.
struct Head {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<std::string> get(std::string_view name) const {
    for (const auto& [n, v] : headers)
      if (iequals(n, name)) return v;
    return std::nullopt;
  }
};

Head head_of(const ProcessResult& r) {
  Head h;
  std::size_t at = 0;
  while (at < r.out.size()) {
    std::size_t eol = r.out.find("\r\n", at);
    if (eol == std::string::npos || eol == at) break;
    std::string line = r.out.substr(at, eol - at);
    if (line.starts_with("HTTP/")) {
      h.status = std::stoi(line.substr(9, 3));
    } else if (std::size_t colon = line.find(':'); colon != std::string::npos) {
      h.headers.emplace_back(line.substr(0, colon), line.substr(colon + 2));
    }
    at = eol + 2;
  }
  return h;
}

Head curl_head(const TestServer& s, std::vector<std::string> args, std::string path = "/") {
  args.insert(args.begin(), {"-D", "-", "-o", "/dev/null"});
  args.push_back(s.url(path));
  auto r = run_process(s.curl(args));
  REQUIRE(r.exit_code == 0);
  return head_of(r);
}

App stack() {
  return mw::cors({.origins = {"https://app.test", "https://*.example.org"},
                   .methods = {"GET", "POST", "DELETE"},
                   .headers = {"Content-Type"},
                   .expose = {"X-Total"},
                   .credentials = true,
                   .max_age = 300})(api());
}

} // namespace

TEMPLATE_TEST_CASE("A preflight from an allowed origin is 204 from the middleware, a refused one "
                   "reaches the app bare",
                   "[cors]", LITHE_BACKENDS_AND_TLS) {
  TestServer s(TestType{}, stack());
  app_calls = 0;
  Head h = curl_head(s, {"-X", "OPTIONS", "-H", "Origin: https://a.b.example.org", "-H",
                         "Access-Control-Request-Method: DELETE", "-H",
                         "Access-Control-Request-Headers: content-type"});
  CHECK(h.status == 204);
  CHECK(app_calls == 0);
  CHECK(h.get("Access-Control-Allow-Origin") == "https://a.b.example.org");
  CHECK(h.get("Access-Control-Allow-Methods") == "GET, POST, DELETE");
  CHECK(h.get("Access-Control-Allow-Headers") == "Content-Type");
  CHECK(h.get("Access-Control-Allow-Credentials") == "true");
  CHECK(h.get("Access-Control-Max-Age") == "300");
  h = curl_head(s, {"-X", "OPTIONS", "-H", "Origin: https://example.org.evil.test", "-H",
                    "Access-Control-Request-Method: DELETE"});
  CHECK(h.status == 200);
  CHECK(app_calls == 1);
  CHECK_FALSE(h.get("Access-Control-Allow-Origin"));
  CHECK_FALSE(h.get("Access-Control-Allow-Methods"));
  CHECK(h.get("Vary") == "Origin");
  CHECK(s.settles());
}

TEMPLATE_TEST_CASE("Actual requests: an allowed origin is echoed with credentials, late too; a "
                   "refused one gets no Access-Control-Allow-Origin",
                   "[cors]", LITHE_BACKENDS_AND_TLS) {
  TestServer s(TestType{}, stack());
  for (std::string path : {"/", "/late"}) {
    INFO(path);
    Head h = curl_head(s, {"-H", "Origin: https://app.test", "-H", "Cookie: session=abc"}, path);
    CHECK(h.status == 200);
    CHECK(h.get("Access-Control-Allow-Origin") == "https://app.test");
    CHECK(h.get("Access-Control-Allow-Credentials") == "true");
    CHECK(h.get("Access-Control-Expose-Headers") == "X-Total");
    CHECK(h.get("Vary") == "Origin");
    h = curl_head(s, {"-H", "Origin: https://evil.test"}, path);
    CHECK(h.status == 200);
    CHECK_FALSE(h.get("Access-Control-Allow-Origin"));
    CHECK_FALSE(h.get("Access-Control-Allow-Credentials"));
    CHECK(h.get("Vary") == "Origin");
  }
  CHECK(curl_head(s, {}).get("Vary") == "Origin"); // no Origin: still varies by it
  CHECK(s.settles());
}
