// Lint (SPEC §9): one test at least per rule marked *(linted)* that asserts Lint names it
// (tests/unit/spec_lint_test.cpp holds SPEC.md, lint.cpp and this file in step).
#include <catch2/catch.hpp>
#include <lithe/detail/exchange.hpp> // a server's side of the env, to build bad ones
#include <lithe/lithe.hpp>

#include <functional>
#include <string>
#include <thread>
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

// The engine's own checks (4.6, 4.7, 5.1-5.4) report through the error log.
struct LogCapture {
  std::vector<std::string> lines;
  LogCapture() {
    set_error_log([this](std::string_view line) { lines.emplace_back(line); });
  }
  ~LogCapture() { set_error_log(nullptr); }
  bool has(const std::string& rule) const {
    for (const auto& l : lines)
      if (l.find("lint: SPEC " + rule + ": ") != std::string::npos) return true;
    return false;
  }
};

// An env as a server builds it, through the engine's own exchange (no loop, no sink: Lint's
// checks of §2 read only the env). `build` plays the server, well or badly.
struct BuiltEnv final : detail::Exchange {
  void recycle() noexcept override {}
};

void good_request(detail::Exchange& ex, std::string_view target = "/a?b=1") {
  ex.add_request_header("Host", "example.org:8080");
  ex.set_request({.method = "GET",
                  .target = target,
                  .protocol = "HTTP/1.1",
                  .scheme = "http",
                  .remote_addr = "127.0.0.1",
                  .default_port = "80",
                  .body = ""});
}

Collected lint_env(const std::function<void(detail::Exchange&)>& build) {
  BuiltEnv ex;
  build(ex);
  Collected c;
  App linted = lint([](Env&) -> Response { return {200}; },
                    {.on_violation = [&c](const LintViolation& v) { c.seen.push_back(v); }});
  linted(ex.env);
  return c;
}

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
  Collected e;
  run_linted([](Env&) -> Response { return {200, {{"Connection", "keep-alive"}}, "x"}; }, e);
  CHECK(e.has("3.7"));
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
  LogCapture log;
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
  CHECK(log.has("5.2"));
}

TEST_CASE("The sentinel with a dropped callback is answered 500 and reported (rule 5.4)") {
  LogCapture log;
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
  CHECK(log.has("5.4"));
}

TEST_CASE("A deferrable body dropped without succeed is failed and reported (rule 4.7)") {
  LogCapture log;
  std::size_t before = lint_violation_count();
  auto r = MockRequest([](Env&) -> Response {
             DeferrableBody body;
             body.write("partial");
             return {200, {}, body};
           }).get("/");
  CHECK(r.finished);
  CHECK(r.reason == CloseReason::error);
  CHECK(lint_violation_count() == before + 1);
  CHECK(log.has("4.7"));
}

TEST_CASE("Writing a body after succeed is reported (rule 4.6)") {
  LogCapture log;
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
  CHECK(log.has("4.6"));
}

TEST_CASE("A write after succeed is reported even once the body has closed (rule 4.6)") {
  LogCapture log;
  bool wrote = true;
  auto r = MockRequest([&wrote](Env& env) -> Response {
             DeferrableBody body;
             env.loop().next_tick([body, &wrote] {
               body.write("all");
               body.succeed(); // the response ends and the body closes here
               wrote = body.write("late");
             });
             return {200, {}, body};
           }).get("/");
  CHECK(r.body == "all");
  CHECK_FALSE(wrote);
  CHECK(log.has("4.6"));
}

TEST_CASE("Lint passes the env the engine builds, with a Host or without (rules 2.1-2.8)") {
  CHECK(lint_env([](detail::Exchange& ex) { good_request(ex); }).seen.empty());
  CHECK(lint_env([](detail::Exchange& ex) { good_request(ex, "/a??b#frag"); }).seen.empty());
  Collected no_host = lint_env([](detail::Exchange& ex) {
    ex.set_request({.method = "GET",
                    .target = "/",
                    .protocol = "HTTP/1.0",
                    .scheme = "http",
                    .default_port = "8080"});
    CHECK(ex.env.server_name() == "localhost");
    CHECK(ex.env.server_port() == "8080");
  });
  CHECK(no_host.seen.empty());
  Collected v6 = lint_env([](detail::Exchange& ex) {
    ex.add_request_header("Host", "[::1]:8443");
    ex.set_request({.method = "OPTIONS", .target = "*", .protocol = "HTTP/1.1", .scheme = "https"});
  });
  CHECK(v6.seen.empty());
}

TEST_CASE("Lint names rule 2.1 for a method that is not a token") {
  Collected c = lint_env([](detail::Exchange& ex) {
    ex.set_request({.method = "GE T", .target = "/", .protocol = "HTTP/1.1", .scheme = "http"});
  });
  CHECK(c.has("2.1"));
}

TEST_CASE("Lint names rules 2.2 and 2.3 for a SCRIPT_NAME/PATH_INFO split gone wrong") {
  CHECK(lint_env([](detail::Exchange& ex) {
          good_request(ex);
          ex.env.set_script_name("/");
        }).has("2.2"));
  CHECK(lint_env([](detail::Exchange& ex) {
          good_request(ex);
          ex.env.set_script_name("app");
        }).has("2.2"));
  CHECK(lint_env([](detail::Exchange& ex) {
          good_request(ex);
          ex.env.set_path("a");
        }).has("2.3"));
  CHECK(lint_env([](detail::Exchange& ex) {
          good_request(ex);
          ex.env.set_path("");
        }).has("2.3"));
  CHECK(lint_env([](detail::Exchange& ex) { // `*` is for OPTIONS only
          ex.set_request(
              {.method = "GET", .target = "*", .protocol = "HTTP/1.1", .scheme = "http"});
        })
            .has("2.3"));
}

TEST_CASE("Lint names rule 2.4 for a QUERY_STRING that is not what follows the first '?'") {
  // A server that copies the request (SPEC 2.9) but moves only some of its views.
  std::string request = "/a?yy", elsewhere = "zz";
  Collected c = lint_env([&](detail::Exchange& ex) {
    good_request(ex, request);
    ex.relocate(request.data() + 3, 2, elsewhere.data());
    CHECK(ex.env.query() == "zz");
  });
  CHECK(c.has("2.4"));
}

TEST_CASE("Lint names rule 2.5: SERVER_NAME and SERVER_PORT come from Host, else localhost") {
  std::string host = "example.org:8080", elsewhere = "example.net";
  Collected name = lint_env([&](detail::Exchange& ex) {
    ex.add_request_header("Host", host);
    ex.set_request({.method = "GET", .target = "/", .protocol = "HTTP/1.1", .scheme = "http"});
    ex.relocate(host.data(), 11, elsewhere.data()); // SERVER_NAME moves, the Host header not
    CHECK(ex.env.server_name() == "example.net");
  });
  CHECK(name.has("2.5"));
  Collected port = lint_env([](detail::Exchange& ex) {
    ex.add_request_header("Host", "example.org:http");
    ex.set_request({.method = "GET", .target = "/", .protocol = "HTTP/1.1", .scheme = "http"});
  });
  CHECK(port.has("2.5"));
  Collected protocol = lint_env([](detail::Exchange& ex) {
    ex.add_request_header("Host", "example.org");
    ex.set_request({.method = "GET",
                    .target = "/",
                    .protocol = "HTTP/2.0",
                    .scheme = "http",
                    .default_port = "80"});
  });
  CHECK(protocol.has("2.5"));
}

TEST_CASE("Lint names rule 2.6 for request header names and values a server should refuse") {
  CHECK(lint_env([](detail::Exchange& ex) {
          ex.add_request_header("Bad Name", "x");
          good_request(ex);
        }).has("2.6"));
  CHECK(lint_env([](detail::Exchange& ex) {
          ex.add_request_header("X-Split", "a\r\nInjected: 1");
          good_request(ex);
        }).has("2.6"));
}

TEST_CASE("Lint names rule 2.7 for a url_scheme other than http or https") {
  CHECK(lint_env([](detail::Exchange& ex) {
          ex.add_request_header("Host", "example.org");
          ex.set_request({.method = "GET",
                          .target = "/",
                          .protocol = "HTTP/1.1",
                          .scheme = "ftp",
                          .default_port = "21"});
        }).has("2.7"));
}

TEST_CASE("Lint names rule 2.8 for a CONTENT_LENGTH that is not the body's size") {
  auto with_length = [](std::string_view length) {
    return lint_env([length](detail::Exchange& ex) {
      ex.add_request_header("Host", "example.org");
      ex.add_request_header("Content-Length", length);
      ex.set_request({.method = "POST",
                      .target = "/",
                      .protocol = "HTTP/1.1",
                      .scheme = "http",
                      .default_port = "80",
                      .body = "abc"});
    });
  };
  CHECK(with_length("3").seen.empty());
  CHECK(with_length("5").has("2.8"));
  CHECK(with_length("three").has("2.8"));
}

TEST_CASE("Lint names rule 3.8 for 101 without a hijack body") {
  Collected c;
  auto r = run_linted([](Env&) -> Response { return {101}; }, c);
  CHECK(c.has("3.8"));
  CHECK(r.status == 500);
  Collected ok;
  run_linted(
      [](Env&) -> Response {
        return {101, {{"Connection", "Upgrade"}, {"Upgrade", "x"}}, hijack([](Socket) {})};
      },
      ok);
  CHECK(ok.seen.empty());
}

TEST_CASE("Lint names rule 4.3 for a file body without an open file") {
  Collected c;
  auto r = run_linted([](Env&) -> Response { return {200, {}, FileRange{}}; }, c);
  CHECK(c.has("4.3"));
  CHECK(r.status == 500);
}

TEST_CASE("A late response that is itself the sentinel is answered 500 (rule 5.1)") {
  LogCapture log;
  MockOptions o;
  o.lint = false; // Lint's own wrapper would name 3.1 first
  auto r = MockRequest([](Env& env) -> Response {
             env.loop().next_tick([cb = env.async_callback()] { cb(async); });
             return async;
           }).get("/", o);
  CHECK(r.status == 500);
  CHECK(log.has("5.1"));
}

TEST_CASE("An app that called the callback and also returned a response: the returned one "
          "is sent (rule 5.3)") {
  LogCapture log;
  auto r = MockRequest([](Env& env) -> Response {
             env.async_callback()({201, {}, "from the callback"});
             return {200, {}, "returned"};
           }).get("/");
  CHECK(r.status == 200);
  CHECK(r.body == "returned");
  CHECK(log.has("5.3"));
}

TEST_CASE("A callback called after the client left, or after abandon, is refused without a "
          "report (rule 5.2)") {
  LogCapture log;
  std::size_t before = lint_violation_count();
  bool refused_gone = false, refused_abandoned = false;
  MockRequest gone([&refused_gone](Env& env) -> Response {
    env.on_close([cb = env.async_callback(), &refused_gone](CloseReason) {
      refused_gone = !cb({200}); // on the loop, once the client has left
    });
    return async;
  });
  MockOptions o;
  o.client_leaves_after = Millis(10);
  CHECK(gone.get("/", o).reason == CloseReason::client_gone);
  CHECK(refused_gone);

  MockRequest abandoned([&refused_abandoned](Env& env) -> Response {
    env.loop().add_timer(Millis(10), [&env, cb = env.async_callback(), &refused_abandoned] {
      env.abandon(CloseReason::timeout, {503}); // what mw::timeout does (SPEC 6.5)
      refused_abandoned = !cb({200});
    });
    return async;
  });
  CHECK(abandoned.get("/").status == 503);
  CHECK(refused_abandoned);
  CHECK(lint_violation_count() == before);
  CHECK_FALSE(log.has("5.2"));
}

TEST_CASE("Reading the request body after the response finished is reported (rule 2.13)") {
  LogCapture log;
  bool called = false;
  auto r = MockRequest([&called](Env& env) -> Response {
             env.on_finished([&called](Env& e, const Outcome&) {
               e.input().read([&called](InputChunk) { called = true; });
             });
             return {200, {}, "ok"};
           }).post("/", "body");
  CHECK(r.status == 200);
  CHECK(log.has("2.13"));
}

TEST_CASE("Reading the request body on another thread is reported and ignored (rule 2.13)") {
  LogCapture log;
  bool called = false;
  auto r = MockRequest([&called](Env& env) -> Response {
             std::thread t([&env, &called] {
               env.input().on_data([&called](std::string_view) { called = true; });
             });
             t.join();
             return {200, {}, "ok"};
           }).post("/", "body");
  CHECK(r.status == 200);
  CHECK_FALSE(called);
  CHECK(log.has("2.13"));
}
