// lithe-api over real sockets on every backend, driven by curl with a cookie jar: the login
// form and its signed session, CSRF on forms and on the JSON API, the JSON API itself, the
// multipart avatar upload and its limits, the rate-limited login, and CORS for --origin.
// (tests/browser/api_test.mjs runs the same flow in Chromium.)
#include "support/app_process.hpp"
#include "support/backends.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <unistd.h>
#include <vector>

using namespace lithe::test;

namespace {

/// curl against one lithe-api with its own cookie jar (a temporary folder, removed at the end).
class Browser {
public:
  explicit Browser(const AppProcess& app)
      : base_("http://127.0.0.1:" + std::to_string(app.port())) {
    char dir[] = "/tmp/lithe-api-test.XXXXXX";
    REQUIRE(::mkdtemp(dir));
    dir_ = dir;
  }
  ~Browser() { std::filesystem::remove_all(dir_); }
  Browser(const Browser&) = delete;
  Browser& operator=(const Browser&) = delete;

  const std::string& dir() const noexcept { return dir_; }
  std::string jar() const { return dir_ + "/jar"; }

  /// curl -i with the jar; the status and the whole answer (head and body).
  struct Answer {
    int status = 0;
    std::string text;
    bool has(std::string_view s) const { return text.find(s) != std::string::npos; }
  };
  Answer request(std::vector<std::string> args, std::string_view path) {
    std::vector<std::string> argv = {"curl", "-sS", "-i", "--max-time", "10",
                                     "-c",   jar(), "-b", jar()};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back(base_ + std::string(path));
    ProcessResult r = run_process(argv);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    Answer a;
    a.text = r.out;
    // The last status line (curl -i prints a 100 Continue's too).
    std::smatch m;
    std::string rest = r.out;
    std::regex line("HTTP/1\\.1 (\\d{3})");
    while (std::regex_search(rest, m, line)) {
      a.status = std::stoi(m[1]);
      rest = m.suffix();
    }
    return a;
  }
  Answer get(std::string_view path) { return request({}, path); }

  /// The CSRF token the page carries (the form field's, or the meta tag's once logged in).
  std::string token() {
    Answer page = get("/");
    std::smatch m;
    REQUIRE(std::regex_search(
        page.text, m,
        std::regex("(?:name=\"authenticity_token\" value|content)=\"([A-Za-z0-9_-]{40,})\"")));
    return m[1];
  }
  Answer login(std::string user, std::string password, bool with_token = true) {
    std::vector<std::string> args = {"--data-urlencode", "user=" + user, "--data-urlencode",
                                     "password=" + password};
    if (with_token) {
      args.push_back("--data-urlencode");
      args.push_back("authenticity_token=" + token());
    }
    return request(args, "/login");
  }
  /// A JSON API call with the page's token.
  Answer api(std::string method, std::string_view path, std::string json = "") {
    std::vector<std::string> args = {"-X", method, "-H", "X-CSRF-Token: " + token()};
    if (!json.empty()) {
      args.insert(args.end(), {"-H", "Content-Type: application/json", "--data-binary", json});
    }
    return request(args, path);
  }

private:
  std::string base_, dir_;
};

std::string write_file(const std::string& path, std::size_t n, char fill) {
  std::ofstream(path, std::ios::binary) << std::string(n, fill);
  return path;
}

} // namespace

TEMPLATE_TEST_CASE("lithe-api: a login sets a session the JSON API honours, and logout ends it",
                   "[api]", LITHE_BACKENDS) {
  AppProcess app("api", TestType::name, {"--users", "demo:demo,alice:wonderland"});
  Browser b(app);
  CHECK(b.get("/todos").status == 401);
  CHECK(b.login("alice", "nope").status == 401);
  auto in = b.login("alice", "wonderland");
  CHECK(in.status == 303);
  CHECK(in.has("Set-Cookie: lithe.session="));
  CHECK(in.has("HttpOnly"));
  CHECK(b.get("/").has("Todos of <span id=\"user\">alice</span>"));

  auto made = b.api("POST", "/todos", R"({"title":"buy milk"})");
  CHECK(made.status == 201);
  CHECK(made.has(R"("title":"buy milk")"));
  std::smatch m;
  REQUIRE(std::regex_search(made.text, m, std::regex("\"id\":(\\d+)")));
  std::string id = m[1];
  auto done = b.api("PATCH", "/todos/" + id, R"({"done":true})");
  CHECK(done.status == 200);
  CHECK(done.has(R"("done":true)"));
  CHECK(b.get("/todos").has(R"("title":"buy milk")"));
  CHECK(b.api("DELETE", "/todos/" + id).status == 204);
  CHECK(b.api("DELETE", "/todos/" + id).status == 404);
  CHECK(b.get("/todos").has("[]"));

  // Another user sees none of alice's todos.
  CHECK(b.api("POST", "/todos", R"({"title":"alice only"})").status == 201);
  Browser other(app);
  CHECK(other.login("demo", "demo").status == 303);
  CHECK_FALSE(other.get("/todos").has("alice only"));

  auto out = b.request({"--data-urlencode", "authenticity_token=" + b.token()}, "/logout");
  CHECK(out.status == 303);
  CHECK(b.get("/todos").status == 401);
}

TEMPLATE_TEST_CASE("lithe-api refuses forms without their CSRF token, forged sessions and bad "
                   "JSON",
                   "[api]", LITHE_BACKENDS) {
  AppProcess app("api", TestType::name, {});
  Browser b(app);
  auto no_token = b.login("demo", "demo", false);
  CHECK(no_token.status == 403);
  CHECK(no_token.has("CSRF"));
  REQUIRE(b.login("demo", "demo").status == 303);

  // The API wants the token too: a page on another site cannot post with the cookie alone.
  auto bare = b.request(
      {"-H", "Content-Type: application/json", "--data-binary", R"({"title":"x"})"}, "/todos");
  CHECK(bare.status == 403);
  CHECK(b.api("POST", "/todos", R"({"title":)").status == 400);
  CHECK(b.api("POST", "/todos", R"({"name":"x"})").status == 422);
  CHECK(b.api("POST", "/todos", std::string(10000, '[')).status == 400); // deeper than 8
  CHECK(b.api("POST", "/todos", "{\"title\":\"" + std::string(20000, 'x') + "\"}").status == 413);
  auto wrong_type = b.request({"-H", "X-CSRF-Token: " + b.token(), "-H", "Content-Type: text/plain",
                               "--data-binary", R"({"title":"x"})"},
                              "/todos");
  CHECK(wrong_type.status == 415);

  // A session cookie changed by one character is no session at all (the login form again).
  std::ifstream jar(b.jar());
  std::string jar_text((std::istreambuf_iterator<char>(jar)), std::istreambuf_iterator<char>());
  std::smatch m;
  REQUIRE(std::regex_search(jar_text, m, std::regex("lithe\\.session\\t([A-Za-z0-9_.-]+)")));
  std::string forged = m[1];
  forged[forged.size() / 2] = forged[forged.size() / 2] == 'A' ? 'B' : 'A';
  std::string out =
      run_process({"curl", "-sS", "--max-time", "10", "-H", "Cookie: lithe.session=" + forged,
                   "http://127.0.0.1:" + std::to_string(app.port()) + "/"})
          .out;
  CHECK(out.find("id=\"login\"") != std::string::npos);
  CHECK(app.stop() == 0);
}

TEMPLATE_TEST_CASE("lithe-api takes an avatar as a multipart upload within its limits", "[api]",
                   LITHE_BACKENDS) {
  AppProcess app("api", TestType::name, {});
  Browser b(app);
  std::string token;
  auto upload = [&](const std::string& file, std::string type) {
    return b.request(
        {"-H", "X-CSRF-Token: " + b.token(), "-F", "avatar=@" + file + ";type=" + type}, "/avatar");
  };
  std::string small = write_file(b.dir() + "/small.png", 300 << 10, 'p');
  CHECK(upload(small, "image/png").status == 401); // not logged in
  REQUIRE(b.login("demo", "demo").status == 303);
  auto ok = upload(small, "image/png");
  CHECK(ok.status == 201);
  CHECK(ok.has(R"("size":307200)"));
  auto back = b.get("/avatar");
  CHECK(back.status == 200);
  CHECK(back.has("Content-Type: image/png"));
  CHECK(back.has(std::string(300 << 10, 'p')));
  CHECK(upload(small, "text/html").status == 415);
  std::string big = write_file(b.dir() + "/big.png", 3 << 20, 'b');
  CHECK(upload(big, "image/png").status == 413);
  // The one that fit is still there.
  CHECK(b.get("/avatar").has(std::string(300 << 10, 'p')));
}

TEMPLATE_TEST_CASE("lithe-api rate-limits logins per client: past the burst it answers 429",
                   "[api]", LITHE_BACKENDS) {
  AppProcess app("api", TestType::name, {});
  Browser b(app);
  std::vector<int> statuses;
  for (int i = 0; i < 5; ++i)
    statuses.push_back(b.login("demo", "guess" + std::to_string(i)).status);
  CHECK(statuses == std::vector<int>(5, 401));
  auto refused = b.login("demo", "demo");
  CHECK(refused.status == 429);
  CHECK(refused.has("Retry-After: "));
  CHECK(refused.has("RateLimit-Remaining: 0"));
  // Other routes are not counted.
  CHECK(b.get("/").status == 200);
}

TEMPLATE_TEST_CASE("lithe-api lets --origin read the API with its session and no other origin",
                   "[api]", LITHE_BACKENDS) {
  AppProcess app("api", TestType::name, {"--origin", "http://app.example"});
  Browser b(app);
  REQUIRE(b.login("demo", "demo").status == 303);
  auto allowed = b.request({"-H", "Origin: http://app.example"}, "/todos");
  CHECK(allowed.status == 200);
  CHECK(allowed.has("Access-Control-Allow-Origin: http://app.example"));
  CHECK(allowed.has("Access-Control-Allow-Credentials: true"));
  CHECK(allowed.has("Vary: Origin"));
  auto other = b.request({"-H", "Origin: http://evil.example"}, "/todos");
  CHECK_FALSE(other.has("Access-Control-Allow-Origin"));
  auto preflight = b.request({"-X", "OPTIONS", "-H", "Origin: http://app.example", "-H",
                              "Access-Control-Request-Method: PATCH", "-H",
                              "Access-Control-Request-Headers: content-type,x-csrf-token"},
                             "/todos/1");
  CHECK(preflight.status == 204);
  CHECK(preflight.has("PATCH"));
  auto refused = b.request({"-X", "OPTIONS", "-H", "Origin: http://evil.example", "-H",
                            "Access-Control-Request-Method: PATCH"},
                           "/todos/1");
  CHECK_FALSE(refused.has("Access-Control-Allow-Origin"));
}
