#include <catch2/catch.hpp>
#include <lithe/lithe.hpp>

using namespace lithe;

namespace {
// Runs `check` inside the app and returns its response.
MockResponse inspect(const std::function<void(Env&)>& check, std::string_view target = "/",
                     MockOptions opts = {}) {
  MockRequest req([check](Env& env) -> Response {
    check(env);
    return {200, {}, "ok"};
  });
  return req.request(opts.body.empty() ? "GET" : "POST", target, std::move(opts));
}
} // namespace

TEST_CASE("Env splits the target into PATH_INFO and QUERY_STRING") {
  inspect(
      [](Env& env) {
        CHECK(env.method() == "GET");
        CHECK(env.path() == "/a/b");
        CHECK(env.query() == "x=1&y=2");
        CHECK(env.script_name().empty());
        CHECK(env["PATH_INFO"] == "/a/b");
        CHECK(env["QUERY_STRING"] == "x=1&y=2");
        CHECK(env["REQUEST_URI"] == "/a/b?x=1&y=2");
        CHECK(env["SERVER_PROTOCOL"] == "HTTP/1.1");
        CHECK(env["lithe.url_scheme"] == "http");
      },
      "/a/b?x=1&y=2");
}

TEST_CASE("Env reads SERVER_NAME and SERVER_PORT from Host") {
  MockOptions o;
  o.headers = {{"Host", "[::1]:8080"}};
  inspect(
      [](Env& env) {
        CHECK(env.server_name() == "[::1]");
        CHECK(env.server_port() == "8080");
      },
      "/", o);
  o.headers = {{"Host", "example.com"}};
  inspect([](Env& env) { CHECK(env.server_port() == "80"); }, "/", o);
}

TEST_CASE("Env exposes request headers as HTTP_ keys, joining repeats") {
  MockOptions o;
  o.headers = {{"User-Agent", "curl/7"},
               {"X-Forwarded-For", "a"},
               {"x-forwarded-for", "b"},
               {"Content-Type", "text/plain"}};
  o.body = "hello";
  inspect(
      [](Env& env) {
        CHECK(env["HTTP_USER_AGENT"] == "curl/7");
        CHECK(env["HTTP_X_FORWARDED_FOR"] == "a, b");
        CHECK(env.header("x-forwarded-for") == "a");
        CHECK(env["CONTENT_TYPE"] == "text/plain");
        CHECK(env["CONTENT_LENGTH"] == "5");
        CHECK(env["lithe.input"] == "hello");
        CHECK(env.body() == "hello");
        CHECK_FALSE(env.find("HTTP_ACCEPT"));
        CHECK(env["NOPE"].empty());
      },
      "/", o);
}

TEST_CASE("Middleware keeps string and typed values in the env") {
  inspect([](Env& env) {
    env.set("session.id", std::string("abc"));
    CHECK(env["session.id"] == "abc");
    env.emplace<std::vector<int>>("app.numbers", std::vector<int>{1, 2, 3});
    REQUIRE(env.get<std::vector<int>>("app.numbers"));
    CHECK(env.get<std::vector<int>>("app.numbers")->size() == 3);
    CHECK(env.get<int>("app.numbers") == nullptr); // wrong type
    CHECK_FALSE(env.find("app.numbers"));          // typed values are not strings
    CHECK(env.erase("session.id"));
    CHECK(env["session.id"].empty());
    env.set_param("name", "bob");
    CHECK(env.param("name") == "bob");
  });
}

TEST_CASE("An absolute-form target still yields a path") {
  inspect([](Env& env) { CHECK(env.path() == "/x"); }, "http://example.org/x?q");
  inspect([](Env& env) { CHECK(env.path() == "/"); }, "http://example.org");
}
