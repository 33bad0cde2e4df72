// Cookie headers parsed into views (RFC 6265 §5.4) and Set-Cookie built and validated.
#include <lithe/lithe.hpp>
#include <lithe/mock_request.hpp>
#include <lithe/mw/cookies.hpp>

#include <catch2/catch.hpp>

using namespace lithe;

namespace {

/// What the app saw: every cookie as name=value lines.
std::string seen(const std::vector<std::pair<std::string, std::string>>& headers,
                 mw::CookieLimits limits = {}) {
  std::string out;
  MockRequest m([&out, limits](Env& env) -> Response {
    for (mw::Cookie c : mw::cookies(env, limits))
      out.append(c.name).append("=").append(c.value).append("\n");
    return {200, {}, "ok"};
  });
  MockOptions o;
  o.headers = headers;
  m.get("/", o);
  return out;
}

} // namespace

TEST_CASE("Cookies are read from a Cookie header in order, whitespace and quotes dropped") {
  CHECK(seen({{"Cookie", "a=1; b=two;c = \"three\" ;  d="}}) == "a=1\nb=two\nc=three\nd=\n");
}

TEST_CASE("Several Cookie headers are read in arrival order") {
  CHECK(seen({{"Cookie", "a=1"}, {"X-Other", "z=9"}, {"cookie", "b=2; c=3"}}) == "a=1\nb=2\nc=3\n");
}

TEST_CASE("Junk in a Cookie header is skipped, not fatal") {
  CHECK(seen({{"Cookie", ";;; =x; novalue; ==; a=b=c; \"q\"; e=\""}}) == "a=b=c\ne=\"\n");
  CHECK(seen({{"Cookie", ""}}).empty());
  CHECK(seen({{"Cookie", std::string(3000, ';')}}).empty());
}

TEST_CASE("No more cookies are read than the limit, over all Cookie headers") {
  std::string many;
  for (int i = 0; i < 400; ++i)
    many += "k" + std::to_string(i) + "=v; ";
  std::string out = seen({{"Cookie", many}});
  CHECK(std::count(out.begin(), out.end(), '\n') == 256);
  out = seen({{"Cookie", "a=1; b=2"}, {"Cookie", "c=3; d=4"}}, {.max_cookies = 3});
  CHECK(out == "a=1\nb=2\nc=3\n");
}

TEST_CASE("Cookie headers past the byte limit are ignored") {
  std::string out =
      seen({{"Cookie", "a=1"}, {"Cookie", "b=" + std::string(100, 'x')}}, {.max_bytes = 50});
  CHECK(out == "a=1\n");
}

TEST_CASE("cookie(env, name) finds the first cookie of that name") {
  std::optional<std::string> got, missing;
  MockRequest m([&](Env& env) -> Response {
    auto v = mw::cookie(env, "sid");
    if (v) got = std::string(*v);
    if (auto n = mw::cookie(env, "nope")) missing = std::string(*n);
    return {200, {}, "ok"};
  });
  MockOptions o;
  o.headers = {{"Cookie", "x=1; sid=first"}, {"Cookie", "sid=second"}};
  m.get("/", o);
  CHECK(got == "first");
  CHECK_FALSE(missing);
}

TEST_CASE("A Set-Cookie is built from its aggregate with every attribute") {
  std::string v;
  REQUIRE(mw::format_set_cookie({.name = "id",
                                 .value = "a3fWa",
                                 .path = "/app",
                                 .domain = "example.org",
                                 .max_age = 3600,
                                 .expires = std::time_t(1445412480),
                                 .secure = true,
                                 .http_only = true,
                                 .same_site = mw::SameSite::strict},
                                v) == mw::CookieError::none);
  CHECK(v == "id=a3fWa; Path=/app; Domain=example.org; Max-Age=3600; Expires=Wed, 21 Oct 2015 "
             "07:28:00 GMT; Secure; HttpOnly; SameSite=Strict");
}

TEST_CASE("A Set-Cookie that could inject a header or another attribute is refused") {
  Headers h;
  using E = mw::CookieError;
  CHECK(mw::add_cookie(h, {.name = "a b", .value = "1"}) == E::bad_name);
  CHECK(mw::add_cookie(h, {.name = "", .value = "1"}) == E::bad_name);
  CHECK(mw::add_cookie(h, {.name = "a;b", .value = "1"}) == E::bad_name);
  CHECK(mw::add_cookie(h, {.name = "a", .value = "1; Domain=evil"}) == E::bad_value);
  CHECK(mw::add_cookie(h, {.name = "a", .value = "1\r\nSet-Cookie: x=y"}) == E::bad_value);
  CHECK(mw::add_cookie(h, {.name = "a", .value = "x,y"}) == E::bad_value);
  CHECK(mw::add_cookie(h, {.name = "a", .value = std::string("x\0y", 3)}) == E::bad_value);
  CHECK(mw::add_cookie(h, {.name = "a", .value = "1", .path = "/;x"}) == E::bad_path);
  CHECK(mw::add_cookie(h, {.name = "a", .value = "1", .path = "/\n"}) == E::bad_path);
  CHECK(mw::add_cookie(h, {.name = "a", .value = "1", .domain = "a b"}) == E::bad_domain);
  CHECK(mw::add_cookie(h, {.name = "a", .value = "1", .same_site = mw::SameSite::none}) ==
        E::same_site_none_needs_secure);
  CHECK(mw::add_cookie(h, {.name = "a", .value = std::string(5000, 'x')}) == E::too_large);
  CHECK(h.empty()); // nothing written for any of them
}

TEST_CASE("Set-Cookie repeats, one header per cookie, and delete_cookie expires one") {
  Headers h;
  CHECK(mw::add_cookie(h, {.name = "a", .value = "\"quoted\""}) == mw::CookieError::none);
  CHECK(mw::add_cookie(h, {.name = "b", .value = "2"}) == mw::CookieError::none);
  CHECK(mw::delete_cookie(h, "c", "/x") == mw::CookieError::none);
  std::vector<std::string> values;
  for (const Header& x : h)
    if (iequals(x.name.view(), "set-cookie")) values.emplace_back(x.value.view());
  REQUIRE(values.size() == 3);
  CHECK(values[0] == "a=\"quoted\"");
  CHECK(values[2] == "c=; Path=/x; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
}
