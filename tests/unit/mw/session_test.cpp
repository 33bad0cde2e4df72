// Sessions in a signed (and optionally encrypted) cookie: round trips, dirty tracking, tamper,
// expiry, key rotation, the size bound; and the codec on its own.
#include <lithe/lithe.hpp>
#include <lithe/mock_request.hpp>
#include <lithe/mw/session.hpp>

#include <catch2/catch.hpp>

#include <stdexcept>

using namespace lithe;

namespace {

const std::string secret_a(32, 'a'), secret_b = "b-secret-b-secret-b-secret-b-sec";

/// The value of the Set-Cookie for `name` ("" if none was sent).
std::string set_cookie(const MockResponse& r, std::string_view name = "lithe.session") {
  for (const auto& [k, v] : r.headers)
    if (iequals(k, "set-cookie") && v.starts_with(std::string(name) + "="))
      return v.substr(name.size() + 1, v.find(';') - name.size() - 1);
  return "";
}

std::size_t set_cookies(const MockResponse& r) {
  std::size_t n = 0;
  for (const auto& [k, v] : r.headers)
    n += iequals(k, "set-cookie");
  return n;
}

MockOptions with_cookie(const std::string& value, std::string scheme = "http") {
  MockOptions o;
  o.headers = {{"Cookie", "lithe.session=" + value}};
  o.url_scheme = std::move(scheme);
  return o;
}

/// /set?k=v sets, /get?k answers the value (or "-"), /renew renews, /clear clears.
App counter_app() {
  return [](Env& env) -> Response {
    mw::Session& s = mw::session(env);
    std::string q(env.query());
    if (env.path() == "/set") {
      auto eq = q.find('=');
      bool ok = s.set(q.substr(0, eq), q.substr(eq + 1));
      return {ok ? 200 : 507, {}, ok ? "set" : "full"};
    }
    if (env.path() == "/renew") s.renew();
    if (env.path() == "/clear") s.clear();
    auto v = s.get(q);
    return {200, {}, v ? std::string(*v) : std::string("-")};
  };
}

} // namespace

TEST_CASE("A session set in one request is there in the next, through the cookie") {
  for (bool encrypt : {false, true}) {
    MockRequest m(mw::session({.secrets = {secret_a}, .encrypt = encrypt})(counter_app()));
    auto r1 = m.get("/set?user=42");
    std::string c = set_cookie(r1);
    REQUIRE_FALSE(c.empty());
    CHECK(c.find("42") == std::string::npos); // base64url of signed (or sealed) bytes
    auto r2 = m.get("/get?user", with_cookie(c));
    CHECK(r2.body == "42");
    CHECK(set_cookies(r2) == 0); // unchanged: no Set-Cookie
  }
}

TEST_CASE("The session cookie carries the configured attributes") {
  MockRequest m(mw::session({.secrets = {secret_a}})(counter_app()));
  auto r = m.get("/set?a=1");
  auto h = r.header("Set-Cookie");
  REQUIRE(h);
  CHECK(h->find("; Path=/; Max-Age=1209600; HttpOnly; SameSite=Lax") != std::string::npos);
  CHECK(h->find("Secure") == std::string::npos);
  MockOptions https;
  https.url_scheme = "https";
  CHECK(m.get("/set?a=1", https).header("Set-Cookie")->find("; Secure") != std::string::npos);
}

TEST_CASE("A session the app does not touch writes nothing, and setting a same value is no "
          "change") {
  MockRequest m(mw::session({.secrets = {secret_a}})(counter_app()));
  CHECK(set_cookies(m.get("/get?x")) == 0);
  std::string c = set_cookie(m.get("/set?k=v"));
  CHECK(set_cookies(m.get("/set?k=v", with_cookie(c))) == 0);
  CHECK(set_cookies(m.get("/set?k=w", with_cookie(c))) == 1);
}

TEST_CASE("Every byte of a session cookie flipped gives an empty session, never an error") {
  for (bool encrypt : {false, true}) {
    MockRequest m(mw::session({.secrets = {secret_a}, .encrypt = encrypt})(counter_app()));
    std::string c = set_cookie(m.get("/set?user=42"));
    REQUIRE(m.get("/get?user", with_cookie(c)).body == "42");
    for (std::size_t i = 0; i < c.size(); ++i) {
      for (char to : {'A', '_'}) {
        std::string bad = c;
        if (bad[i] == to) continue;
        bad[i] = to;
        auto r = m.get("/get?user", with_cookie(bad));
        INFO("byte " << i);
        CHECK(r.status == 200);
        CHECK(r.body == "-");
      }
    }
    CHECK(m.get("/get?user", with_cookie(c.substr(0, c.size() - 1))).body == "-");
    CHECK(m.get("/get?user", with_cookie(c + "A")).body == "-");
    CHECK(m.get("/get?user", with_cookie("!!not base64!!")).body == "-");
    CHECK(m.get("/get?user", with_cookie("")).body == "-");
  }
}

TEST_CASE("A session older than max_age is empty, enforced from the signed time") {
  std::time_t now = 1'000'000;
  App app =
      mw::session({.secrets = {secret_a}, .max_age = std::chrono::seconds(60), .clock = [&now] {
                     return now;
                   }})(counter_app());
  MockRequest m(app);
  std::string c = set_cookie(m.get("/set?user=42"));
  now += 59;
  CHECK(m.get("/get?user", with_cookie(c)).body == "42");
  now += 2;
  CHECK(m.get("/get?user", with_cookie(c)).body == "-");
}

TEST_CASE("Key rotation: the first secret signs, every secret verifies, a dropped one does not") {
  MockRequest old_server(mw::session({.secrets = {secret_a}})(counter_app()));
  std::string old_cookie = set_cookie(old_server.get("/set?user=42"));
  MockRequest rotated(mw::session({.secrets = {secret_b, secret_a}})(counter_app()));
  CHECK(rotated.get("/get?user", with_cookie(old_cookie)).body == "42");
  std::string new_cookie = set_cookie(rotated.get("/set?user=43", with_cookie(old_cookie)));
  MockRequest only_new(mw::session({.secrets = {secret_b}})(counter_app()));
  CHECK(only_new.get("/get?user", with_cookie(new_cookie)).body == "43");
  CHECK(only_new.get("/get?user", with_cookie(old_cookie)).body == "-");
}

TEST_CASE("A signed cookie is not accepted where encryption is on, nor the other way") {
  MockRequest plain(mw::session({.secrets = {secret_a}})(counter_app()));
  MockRequest sealed(mw::session({.secrets = {secret_a}, .encrypt = true})(counter_app()));
  std::string p = set_cookie(plain.get("/set?u=1")), s = set_cookie(sealed.get("/set?u=1"));
  CHECK(sealed.get("/get?u", with_cookie(p)).body == "-");
  CHECK(plain.get("/get?u", with_cookie(s)).body == "-");
}

TEST_CASE("renew gives the same data a new id; clear deletes the cookie") {
  MockRequest m(mw::session({.secrets = {secret_a}})(counter_app()));
  std::string c1 = set_cookie(m.get("/set?user=42"));
  std::string c2 = set_cookie(m.get("/renew?user", with_cookie(c1)));
  REQUIRE_FALSE(c2.empty());
  CHECK(c2 != c1);
  CHECK(m.get("/get?user", with_cookie(c2)).body == "42");
  auto cleared = m.get("/clear?user", with_cookie(c2));
  CHECK(cleared.header("Set-Cookie")->find("Max-Age=0") != std::string::npos);
}

TEST_CASE("A session that would not fit its 4096-byte cookie is refused at set, and every "
          "cookie written fits") {
  for (bool encrypt : {false, true}) {
    MockRequest m(mw::session({.secrets = {secret_a}, .encrypt = encrypt})(counter_app()));
    std::string c;
    int accepted = 0;
    for (int i = 0; i < 100; ++i) {
      auto r = m.get("/set?k" + std::to_string(i) + "=" + std::string(100, 'v'), with_cookie(c));
      if (r.status == 507) break;
      ++accepted;
      c = set_cookie(r);
      CHECK(r.header("Set-Cookie")->size() <= 4096);
    }
    CHECK(accepted > 20);
    CHECK(accepted < 40);
    CHECK(m.get("/get?k0", with_cookie(c)).body == std::string(100, 'v'));
  }
}

TEST_CASE("Short or missing secrets are refused when the middleware is made") {
  CHECK_THROWS_AS(mw::session({}), std::invalid_argument);
  CHECK_THROWS_AS(mw::session({.secrets = {"short"}}), std::invalid_argument);
}

TEST_CASE("Outside mw::session, session(env) is a session that is never saved") {
  MockRequest m(counter_app());
  auto r = m.get("/set?a=1");
  CHECK(r.status == 200);
  CHECK(set_cookies(r) == 0);
}

TEST_CASE("The codec seals and opens; a fresh nonce makes each sealed cookie differ") {
  std::vector<std::string> secrets{secret_a};
  mw::SessionCodec signer(secrets, false), sealer(secrets, true);
  std::string data = "hello\0world";
  CHECK(signer.open(signer.seal(data)) == data);
  CHECK(sealer.open(sealer.seal(data)) == data);
  CHECK(sealer.seal(data) != sealer.seal(data));
  CHECK(signer.seal(data).size() == signer.sealed_size(data.size()));
  CHECK(sealer.seal(data).size() == sealer.sealed_size(data.size()));
  CHECK_FALSE(signer.open(sealer.seal(data)));
}

TEST_CASE("Session serialization round-trips and refuses malformed bytes") {
  mw::Session s;
  REQUIRE(s.set("a", "1"));
  REQUIRE(s.set(std::string("b\0", 2), ""));
  mw::Session t;
  REQUIRE(t.deserialize(s.serialize()));
  CHECK(t.get("a") == "1");
  CHECK(t.get(std::string("b\0", 2)) == "");
  CHECK(t.bytes() == s.bytes());
  std::string bytes = s.serialize();
  for (std::size_t cut = 1; cut < bytes.size(); ++cut)
    if (cut != 10) // the end of the first entry ("a", "1"): a whole session of one
      CHECK_FALSE(t.deserialize(std::string_view(bytes).substr(0, cut)));
  CHECK(t.empty());
}

TEST_CASE("base64url round-trips and refuses other alphabets") {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\xfd"})
    CHECK(mw::base64url_decode(mw::base64url_encode(s)) == s);
  CHECK(mw::base64url_encode("\xfb\xff") == "-_8");
  CHECK_FALSE(mw::base64url_decode("a+b/"));
  CHECK_FALSE(mw::base64url_decode("abcde"));
  CHECK_FALSE(mw::base64url_decode("Zm9v="));
}
