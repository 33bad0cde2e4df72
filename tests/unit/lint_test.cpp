#include <catch2/catch.hpp>
#include <lithe/lithe.hpp>

#include <string>
#include <vector>

using namespace lithe;

namespace {
struct Collected {
  std::vector<LintViolation> seen;
  bool has(const std::string& rule) const {
    for (const auto& v : seen)
      if (v.rule == rule) return true;
    return false;
  }
};

MockResponse run_linted(App app, Collected& c, std::string_view method = "GET") {
  App linted =
      lint(std::move(app), {.on_violation = [&c](const LintViolation& v) { c.seen.push_back(v); }});
  MockOptions o;
  o.lint = false; // only the Lint under test
  return MockRequest(linted).request(method, "/", o);
}
} // namespace

TEST_CASE("Lint passes a correct response") {
  Collected c;
  auto r = run_linted(
      [](Env&) -> Response {
        return {200, {{"Content-Type", "text/plain"}}, "hi"};
      },
      c);
  CHECK(c.seen.empty());
  CHECK(r.status == 200);
}

TEST_CASE("Lint names rule 3.1 for a status out of range and answers 500") {
  Collected c;
  auto r = run_linted([](Env&) -> Response { return {42}; }, c);
  CHECK(c.has("3.1"));
  CHECK(r.status == 500);
}

TEST_CASE("Lint rejects header names that are not tokens and values with CR or LF") {
  Collected c;
  run_linted([](Env&) -> Response { return {200, {{"Bad Name", "x"}}}; }, c);
  CHECK(c.has("3.2"));
  Collected d;
  run_linted([](Env&) -> Response { return {200, {{"X-Split", "a\r\nInjected: 1"}}}; }, d);
  CHECK(d.has("3.3"));
}

TEST_CASE("Lint rejects a body on 204 and 304, and Transfer-Encoding from the app") {
  Collected c;
  run_linted([](Env&) -> Response { return {204, {}, "body"}; }, c);
  CHECK(c.has("3.5"));
  Collected d;
  run_linted([](Env&) -> Response { return {200, {{"Transfer-Encoding", "chunked"}}, "x"}; }, d);
  CHECK(d.has("3.7"));
}

TEST_CASE("Lint checks Content-Length against the body") {
  Collected c;
  run_linted([](Env&) -> Response { return {200, {{"Content-Length", "5"}}, "abc"}; }, c);
  CHECK(c.has("3.6"));
  Collected head;
  run_linted([](Env&) -> Response { return {200, {{"Content-Length", "5"}}}; }, head, "HEAD");
  CHECK(head.seen.empty()); // HEAD answers carry the GET's length without the body
}

TEST_CASE("Lint checks late responses too") {
  Collected c;
  auto r = run_linted(
      [](Env& env) -> Response {
        env.loop().next_tick([cb = env.async_callback()] { cb({999}); });
        return async;
      },
      c);
  CHECK(c.has("3.1"));
  CHECK(r.status == 500);
}

TEST_CASE("The async callback called twice is a violation of rule 5.2") {
  std::size_t before = lint_violation_count();
  bool second = true;
  MockRequest([&second](Env& env) -> Response {
    env.loop().next_tick([cb = env.async_callback(), &second] {
      cb({200});
      second = cb({201});
    });
    return async;
  }).get("/");
  CHECK_FALSE(second);
  CHECK(lint_violation_count() == before + 1);
}

TEST_CASE("The sentinel with a dropped callback is answered 500 and reported (rule 5.4)") {
  std::size_t before = lint_violation_count();
  auto r = MockRequest([](Env&) -> Response { return async; }).get("/");
  CHECK(r.status == 500);
  CHECK(lint_violation_count() == before + 1);

  auto r2 =
      MockRequest([](Env& env) -> Response {
        env.loop().add_timer(Millis(10), [cb = env.async_callback()] {}); // dropped unanswered
        return async;
      }).get("/");
  CHECK(r2.status == 500);
  CHECK(lint_violation_count() == before + 2);
}

TEST_CASE("A deferrable body dropped without succeed is failed and reported (rule 4.7)") {
  std::size_t before = lint_violation_count();
  auto r = MockRequest([](Env&) -> Response {
             DeferrableBody body;
             body.write("partial");
             return {200, {}, body};
           }).get("/");
  CHECK(r.finished);
  CHECK(r.reason == CloseReason::error);
  CHECK(lint_violation_count() == before + 1);
}

TEST_CASE("Writing a body after succeed is reported (rule 4.6)") {
  std::size_t before = lint_violation_count();
  bool wrote = true;
  MockRequest([&wrote](Env&) -> Response {
    DeferrableBody body;
    body.succeed();
    wrote = body.write("late");
    return {200, {}, body};
  }).get("/");
  CHECK_FALSE(wrote);
  CHECK(lint_violation_count() == before + 1);
}
