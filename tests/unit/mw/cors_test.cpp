// Cors: preflights answered or passed on, origins echoed or refused, Vary: Origin on every
// response (late ones too), patterns matched label by label, bad configurations refused.
#include <lithe/lithe.hpp>
#include <lithe/mock_request.hpp>
#include <lithe/mw/cors.hpp>

#include <catch2/catch.hpp>

#include <stdexcept>

using namespace lithe;

namespace {

int app_calls = 0;

App counting_app() {
  return [](Env&) -> Response {
    ++app_calls;
    return {200, {{"Content-Type", "text/plain"}, {"X-Total", "3"}}, "ok"};
  };
}

App late_app() {
  return [](Env& env) -> Response {
    env.loop().add_timer(Millis(5), [cb = env.async_callback()] {
      cb({200, {{"Content-Type", "text/plain"}}, "late"});
    });
    return async;
  };
}

MockOptions from(std::string origin, std::vector<std::pair<std::string, std::string>> more = {}) {
  MockOptions o;
  o.headers = {{"Origin", std::move(origin)}};
  o.headers.insert(o.headers.end(), more.begin(), more.end());
  return o;
}

mw::CorsOptions site() {
  return {.origins = {"https://app.example.com", "https://*.example.org"},
          .methods = {"GET", "POST", "PATCH"},
          .headers = {"Content-Type", "X-Token"},
          .expose = {"X-Total"},
          .credentials = true,
          .max_age = 600};
}

} // namespace

TEST_CASE("A preflight from an allowed origin is answered 204 without calling the app") {
  app_calls = 0;
  MockRequest m(mw::cors(site())(counting_app()));
  auto r =
      m.request("OPTIONS", "/todos",
                from("https://app.example.com", {{"Access-Control-Request-Method", "PATCH"},
                                                 {"Access-Control-Request-Headers", "x-token"}}));
  CHECK(r.status == 204);
  CHECK(app_calls == 0);
  CHECK(r.header("Access-Control-Allow-Origin") == "https://app.example.com");
  CHECK(r.header("Access-Control-Allow-Credentials") == "true");
  CHECK(r.header("Access-Control-Allow-Methods") == "GET, POST, PATCH");
  CHECK(r.header("Access-Control-Allow-Headers") == "Content-Type, X-Token");
  CHECK(r.header("Access-Control-Max-Age") == "600");
  REQUIRE(r.header("Vary"));
  CHECK(r.header("Vary")->find("Origin") != std::string_view::npos);
}

TEST_CASE("A preflight from a refused origin reaches the app and gets no CORS headers") {
  app_calls = 0;
  MockRequest m(mw::cors(site())(counting_app()));
  auto r = m.request("OPTIONS", "/todos",
                     from("https://evil.example.net", {{"Access-Control-Request-Method", "GET"}}));
  CHECK(app_calls == 1);
  CHECK(r.status == 200);
  CHECK_FALSE(r.header("Access-Control-Allow-Origin"));
  CHECK_FALSE(r.header("Access-Control-Allow-Methods"));
  CHECK(r.header("Vary") == "Origin");
}

TEST_CASE("An OPTIONS without Access-Control-Request-Method is an ordinary request") {
  app_calls = 0;
  MockRequest m(mw::cors(site())(counting_app()));
  auto r = m.request("OPTIONS", "/", from("https://app.example.com"));
  CHECK(app_calls == 1);
  CHECK(r.header("Access-Control-Allow-Origin") == "https://app.example.com");
}

TEST_CASE("An allowed origin is echoed with credentials and exposed headers, late responses too") {
  for (App app : {counting_app(), late_app()}) {
    MockRequest m(mw::cors(site())(app));
    auto r = m.get("/", from("https://app.example.com"));
    CHECK(r.status == 200);
    CHECK(r.header("Access-Control-Allow-Origin") == "https://app.example.com");
    CHECK(r.header("Access-Control-Allow-Credentials") == "true");
    CHECK(r.header("Access-Control-Expose-Headers") == "X-Total");
    CHECK(r.header("Vary") == "Origin");
  }
}

TEST_CASE("A refused origin never gets Access-Control-Allow-Origin, even when the app set one") {
  App sloppy = [](Env&) -> Response {
    return {200,
            {{"Access-Control-Allow-Origin", "*"}, {"Access-Control-Allow-Credentials", "true"}},
            "x"};
  };
  MockRequest m(mw::cors(site())(sloppy));
  for (const char* origin :
       {"https://evil.example.com", "null", "https://app.example.com.evil.io"}) {
    INFO(origin);
    auto r = m.get("/", from(origin));
    CHECK_FALSE(r.header("Access-Control-Allow-Origin"));
    CHECK_FALSE(r.header("Access-Control-Allow-Credentials"));
    CHECK(r.header("Vary") == "Origin");
  }
}

TEST_CASE("Vary: Origin is on responses without an Origin, merged into the app's Vary once") {
  App varying = [](Env&) -> Response { return {200, {{"Vary", "Accept-Encoding"}}, "x"}; };
  MockRequest m(mw::cors(site())(varying));
  CHECK(m.get("/").header("Vary") == "Accept-Encoding, Origin");
  App already = [](Env&) -> Response { return {200, {{"Vary", "origin"}}, "x"}; };
  CHECK(MockRequest(mw::cors(site())(already)).get("/").header("Vary") == "origin");
}

TEST_CASE("A pattern allows one or more labels in place of its wildcard, nothing else") {
  mw::CorsPolicy p(site());
  CHECK(p.allows("https://app.example.com"));
  CHECK(p.allows("https://APP.example.com"));
  CHECK(p.allows("https://a.example.org"));
  CHECK(p.allows("https://a.b-c.example.org"));
  CHECK_FALSE(p.allows("https://example.org"));
  CHECK_FALSE(p.allows("https://.example.org"));
  CHECK_FALSE(p.allows("https://a..example.org"));
  CHECK_FALSE(p.allows("https://evilexample.org"));
  CHECK_FALSE(p.allows("http://a.example.org"));
  CHECK_FALSE(p.allows("https://a.example.org:8443"));
  CHECK_FALSE(p.allows("https://a.example.org.evil.io"));
  CHECK_FALSE(p.allows("https://a/b.example.org"));
  CHECK_FALSE(p.allows("https://a:b@x.example.org"));
  CHECK_FALSE(p.allows(""));
  CHECK_FALSE(p.allows("null"));
}

TEST_CASE("\"*\" with credentials is refused at construction; without, any origin gets \"*\"") {
  CHECK_THROWS_AS(mw::cors({.origins = {"*"}, .credentials = true}), std::invalid_argument);
  CHECK_THROWS_AS(mw::cors({.origins = {"https://a.com/"}}), std::invalid_argument);
  CHECK_THROWS_AS(mw::cors({.origins = {"https://a.*.com"}}), std::invalid_argument);
  CHECK_THROWS_AS(mw::cors({.origins = {"example.com"}}), std::invalid_argument);
  MockRequest m(mw::cors({.origins = {"*"}})(counting_app()));
  auto r = m.get("/", from("https://anyone.test"));
  CHECK(r.header("Access-Control-Allow-Origin") == "*");
  CHECK_FALSE(r.header("Access-Control-Allow-Credentials"));
}

TEST_CASE("A header wildcard echoes the headers a preflight asks for, if they are field names") {
  MockRequest m(
      mw::cors({.origins = {"https://a.test"}, .headers = {"*"}, .max_age = -1})(counting_app()));
  auto r = m.request("OPTIONS", "/",
                     from("https://a.test", {{"Access-Control-Request-Method", "PUT"},
                                             {"Access-Control-Request-Headers", "x-a, x-b"}}));
  CHECK(r.status == 204);
  CHECK(r.header("Access-Control-Allow-Headers") == "x-a, x-b");
  CHECK_FALSE(r.header("Access-Control-Max-Age"));
  r = m.request("OPTIONS", "/",
                from("https://a.test", {{"Access-Control-Request-Method", "PUT"},
                                        {"Access-Control-Request-Headers", "x-a\"<script>"}}));
  CHECK_FALSE(r.header("Access-Control-Allow-Headers"));
}
