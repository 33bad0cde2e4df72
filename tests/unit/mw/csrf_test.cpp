// CSRF: unsafe methods need the session's token, from the header or the form field, masked or
// not; safe methods, skipped paths and methods pass; no session is a refusal.
#include <lithe/lithe.hpp>
#include <lithe/mock_request.hpp>
#include <lithe/mw/csrf.hpp>
#include <lithe/mw/session.hpp>

#include <catch2/catch.hpp>

using namespace lithe;

namespace {

const std::string secret(32, 's');

std::string session_cookie(const MockResponse& r) {
  for (const auto& [k, v] : r.headers)
    if (iequals(k, "set-cookie") && v.starts_with("lithe.session="))
      return v.substr(0, v.find(';'));
  return "";
}

/// GET /form answers a masked token; anything else answers "done" and the body it saw.
struct Site {
  MockRequest m;
  std::string cookie;
  explicit Site(mw::CsrfOptions opt = {})
      : m(Builder([&](Builder& b) {
            b.use(mw::session({.secrets = {secret}}));
            b.use(mw::csrf(std::move(opt)));
            b.run([](Env& env) -> Response {
              if (env.path() == "/form") return {200, {}, mw::csrf_token(env)};
              return {200, {}, "done:" + std::string(env.body())};
            });
          }).to_app()) {}
  std::string token() {
    MockOptions o;
    if (!cookie.empty()) o.headers = {{"Cookie", cookie}};
    auto r = m.get("/form", o);
    if (auto c = session_cookie(r); !c.empty()) cookie = c;
    return r.body;
  }
  MockResponse send(std::string method, std::vector<std::pair<std::string, std::string>> headers,
                    std::string body = "") {
    MockOptions o;
    o.headers = std::move(headers);
    if (!cookie.empty()) o.headers.emplace_back("Cookie", cookie);
    o.body = std::move(body);
    return m.request(method, "/act", o);
  }
};

const std::pair<std::string, std::string> form_type{"Content-Type",
                                                    "application/x-www-form-urlencoded"};

} // namespace

TEST_CASE("A POST with the session's token in X-CSRF-Token passes") {
  Site s;
  std::string t = s.token();
  CHECK(t.size() == 86);
  auto r = s.send("POST", {{"X-CSRF-Token", t}});
  CHECK(r.status == 200);
  CHECK(r.body == "done:");
}

TEST_CASE("A form post with authenticity_token passes, and the app still sees its body") {
  Site s;
  std::string body = "title=hi+there&authenticity_token=" + s.token() + "&x=1";
  auto r = s.send("POST", {form_type}, body);
  CHECK(r.status == 200);
  CHECK(r.body == "done:" + body);
}

TEST_CASE("Masked tokens differ each time and each one passes") {
  Site s;
  std::string a = s.token(), b = s.token();
  CHECK(a != b);
  CHECK(s.send("PUT", {{"X-CSRF-Token", a}}).status == 200);
  CHECK(s.send("DELETE", {{"X-CSRF-Token", b}}).status == 200);
}

TEST_CASE("Unsafe methods without a token, or with a wrong one, are refused with 403 and a "
          "reason") {
  Site s;
  std::string t = s.token();
  for (std::string m : {"POST", "PUT", "PATCH", "DELETE"}) {
    auto r = s.send(m, {});
    CHECK(r.status == 403);
    CHECK(r.body == "Forbidden: missing CSRF token\n");
  }
  std::string flipped = t;
  flipped[50] = flipped[50] == 'A' ? 'B' : 'A';
  CHECK(s.send("POST", {{"X-CSRF-Token", flipped}}).status == 403);
  CHECK(s.send("POST", {{"X-CSRF-Token", "junk"}}).body == "Forbidden: invalid CSRF token\n");
  CHECK(s.send("POST", {form_type}, "authenticity_token=" + flipped).status == 403);
  CHECK(s.send("POST", {{"Content-Type", "text/plain"}}, "authenticity_token=" + t).status == 403);
}

TEST_CASE("A token from another session is refused") {
  Site a, b;
  std::string ta = a.token();
  b.token();
  CHECK(b.send("POST", {{"X-CSRF-Token", ta}}).status == 403);
}

TEST_CASE("A POST from a visitor without a session is refused") {
  Site s;
  CHECK(s.send("POST", {{"X-CSRF-Token", std::string(86, 'A')}}).status == 403);
}

TEST_CASE("Without mw::session every unsafe request is refused and no token is made") {
  MockRequest m(mw::csrf()([](Env& env) -> Response { return {200, {}, mw::csrf_token(env)}; }));
  CHECK(m.get("/").body.empty());
  auto r = m.post("/", "");
  CHECK(r.status == 403);
  CHECK(r.body.find("needs a session") != std::string::npos);
}

TEST_CASE("Safe methods, skipped paths and skipped methods are not checked") {
  Site s({.skip_paths = {"/act"}});
  CHECK(s.send("POST", {}).status == 200);
  Site t({.skip_methods = {"PATCH"}});
  CHECK(t.send("PATCH", {}).status == 200);
  CHECK(t.send("GET", {}).status == 200);
  CHECK(t.send("POST", {}).status == 403);
  Site u({.skip = [](const Env& env) { return env.header("Authorization").has_value(); }});
  CHECK(u.send("POST", {{"Authorization", "Bearer x"}}).status == 200);
}

TEST_CASE("A form over the CSRF check's limit is refused with 413") {
  Site s({.max_form_bytes = 1024});
  auto r = s.send("POST", {form_type},
                  "authenticity_token=" + s.token() + "&pad=" + std::string(2000, 'p'));
  CHECK(r.status == 413);
}
