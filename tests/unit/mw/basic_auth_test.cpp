// BasicAuth: the challenge, right and wrong credentials, malformed headers answered 400 with a
// reason, the header's bound, REMOTE_USER for the app, and the strict base64 it decodes.
#include <lithe/lithe.hpp>
#include <lithe/mock_request.hpp>
#include <lithe/mw/basic_auth.hpp>

#include <catch2/catch.hpp>

#include <stdexcept>

using namespace lithe;

namespace {

App whoami() {
  return [](Env& env) -> Response {
    return {200, {{"Content-Type", "text/plain"}}, "hello " + std::string(mw::remote_user(env))};
  };
}

MockOptions authorization(std::string value) {
  MockOptions o;
  o.headers = {{"Authorization", std::move(value)}};
  return o;
}

App guarded() {
  return mw::basic_auth(
      {.realm = "Team \"A\"", .users = {{"alice", "s3cret:with colon"}, {"bob", ""}}})(whoami());
}

} // namespace

TEST_CASE("Without credentials the answer is 401 with the realm and the UTF-8 charset") {
  MockRequest m(guarded());
  auto r = m.get("/");
  CHECK(r.status == 401);
  CHECK(r.header("WWW-Authenticate") == "Basic realm=\"Team \\\"A\\\"\", charset=\"UTF-8\"");
  CHECK(m.get("/", authorization("Bearer abc")).status == 401);
}

TEST_CASE("The right user and password reach the app, which sees REMOTE_USER") {
  MockRequest m(guarded());
  // alice:s3cret:with colon, bob: (an empty password)
  auto r = m.get("/", authorization("Basic YWxpY2U6czNjcmV0OndpdGggY29sb24="));
  CHECK(r.status == 200);
  CHECK(r.body == "hello alice");
  CHECK(m.get("/", authorization("basic   Ym9iOg==  ")).body == "hello bob");
}

TEST_CASE("A wrong password, an unknown user or a prefix of the password is refused with 401") {
  MockRequest m(guarded());
  for (const char* cred : {"YWxpY2U6d3Jvbmc=",     // alice:wrong
                           "YWxpY2U6czNjcmV0",     // alice:s3cret
                           "bWFsbG9yeTpzM2NyZXQ=", // mallory:s3cret
                           "Ym9iOng=",             // bob:x
                           "OmFsaWNl"}) {          // :alice
    INFO(cred);
    auto r = m.get("/", authorization(std::string("Basic ") + cred));
    CHECK(r.status == 401);
    CHECK(r.header("WWW-Authenticate"));
  }
}

TEST_CASE("Malformed base64, a missing colon or a control character is 400 with the reason") {
  MockRequest m(guarded());
  auto bad = m.get("/", authorization("Basic YWxpY2U6czNjcmV0!!"));
  CHECK(bad.status == 400);
  CHECK(bad.body.find("base64") != std::string::npos);
  CHECK_FALSE(bad.header("WWW-Authenticate"));
  auto nocolon = m.get("/", authorization("Basic YWxpY2U=")); // alice
  CHECK(nocolon.status == 400);
  CHECK(nocolon.body.find("':'") != std::string::npos);
  CHECK(m.get("/", authorization("Basic YQphOmI=")).status == 400); // "a\na:b"
}

TEST_CASE("An Authorization header past the bound is 400 before it is decoded") {
  MockRequest m(mw::basic_auth({.users = {{"a", "b"}}, .max_header_bytes = 64})(whoami()));
  auto r = m.get("/", authorization("Basic " + std::string(100, 'A')));
  CHECK(r.status == 400);
  CHECK(r.body.find("too large") != std::string::npos);
}

TEST_CASE("A check function decides instead of a list") {
  int calls = 0;
  auto check = [&calls](std::string_view user, std::string_view password) {
    ++calls;
    return user == "root" && password == "toor";
  };
  MockRequest m(mw::basic_auth({.check = check})(whoami()));
  CHECK(m.get("/", authorization("Basic cm9vdDp0b29y")).body == "hello root");
  CHECK(m.get("/", authorization("Basic cm9vdDpyb290")).status == 401);
  CHECK(calls == 2);
  CHECK_THROWS_AS(mw::basic_auth({}), std::invalid_argument);
}

TEST_CASE("parse_basic decodes strict base64: padding where due, nothing after it") {
  mw::BasicCredentials c;
  CHECK(mw::parse_basic("Basic YTpi", c) == mw::BasicParse::ok);
  CHECK(c.user == "a");
  CHECK(c.password == "b");
  CHECK(mw::parse_basic("Basic YTpiYw==", c) == mw::BasicParse::ok);
  CHECK(c.password == "bc");
  CHECK(mw::parse_basic("Basic YTpiYw", c) == mw::BasicParse::bad_base64);
  CHECK(mw::parse_basic("Basic YTpi=YTpi", c) == mw::BasicParse::bad_base64);
  CHECK(mw::parse_basic("Basic ====", c) == mw::BasicParse::bad_base64);
  CHECK(mw::parse_basic("Basic YT=i", c) == mw::BasicParse::bad_base64);
  CHECK(mw::parse_basic("Basic", c) == mw::BasicParse::not_basic);
  CHECK(mw::parse_basic("Digest x", c) == mw::BasicParse::not_basic);
  CHECK(mw::parse_basic("Basic ", c) == mw::BasicParse::not_basic);
  CHECK(mw::parse_basic("Basic YTpi", c, 5) == mw::BasicParse::too_large);
}
