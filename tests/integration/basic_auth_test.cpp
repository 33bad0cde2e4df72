// BasicAuth over real sockets on every backend, plain and TLS, with curl -u: the right user
// reaches the app (REMOTE_USER), a wrong password gets 401 and the challenge, a malformed header
// 400 with its reason.
#include "support/backends.hpp"
#include "support/net_client.hpp"

#include <lithe/mw/basic_auth.hpp>

#include <catch2/catch.hpp>

using namespace lithe;
using namespace lithe::test;

namespace {

App guarded() {
  return mw::basic_auth({.realm = "lithe tests", .users = {{"alice", "p4ss: wörd"}}})(
      [](Env& env) -> Response {
        return {200, {{"Content-Type", "text/plain"}}, "hi " + std::string(mw::remote_user(env))};
      });
}

ProcessResult curl_status(const TestServer& s, std::vector<std::string> args) {
  args.insert(args.begin(), {"-w", "\n%{http_code} %header{www-authenticate}"});
  args.push_back(s.url("/"));
  return run_process(s.curl(args));
}

} // namespace

TEMPLATE_TEST_CASE("curl -u with the right password is let through, as REMOTE_USER", "[basic_auth]",
                   LITHE_BACKENDS_AND_TLS) {
  TestServer s(TestType{}, guarded());
  auto r = curl_status(s, {"-u", "alice:p4ss: wörd"});
  CHECK(r.exit_code == 0);
  CHECK(r.out == "hi alice\n200 ");
  CHECK(s.settles());
}

TEMPLATE_TEST_CASE("A wrong or missing password is 401 with the challenge; a malformed header 400",
                   "[basic_auth]", LITHE_BACKENDS_AND_TLS) {
  TestServer s(TestType{}, guarded());
  const std::string challenge = "Basic realm=\"lithe tests\", charset=\"UTF-8\"";
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"-u", "alice:p4ss"}, {"-u", "mallory:p4ss: wörd"}, {}}) {
    auto r = curl_status(s, args);
    CHECK(r.exit_code == 0);
    CHECK(r.out == "Unauthorized\n\n401 " + challenge);
  }
  auto r = curl_status(s, {"-H", "Authorization: Basic not*base64"});
  CHECK(r.out == "Bad Request: Basic credentials are not base64\n\n400 ");
  r = curl_status(s, {"-H", "Authorization: Basic YWxpY2U="}); // "alice"
  CHECK(r.out.ends_with("\n400 "));
  CHECK(s.settles());
}
