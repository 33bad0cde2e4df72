// CommonLogger: the line's fields for immediate, late and streamed responses, both formats.
#include <lithe/lithe.hpp>
#include <lithe/mock_request.hpp>
#include <lithe/mw/common_logger.hpp>

#include <catch2/catch.hpp>

#include <cstdio>
#include <regex>
#include <string>
#include <unistd.h>

using namespace lithe;

namespace {

/// A pipe the logger writes into; read() returns what arrived after flush_logs().
struct Capture {
  int fds[2];
  Capture() { REQUIRE(::pipe(fds) == 0); }
  ~Capture() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  std::string read() {
    mw::flush_logs();
    std::string out;
    char buf[4096];
    while (true) {
      ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n > 0) out.append(buf, static_cast<std::size_t>(n));
      if (n < static_cast<ssize_t>(sizeof buf)) break;
    }
    return out;
  }
};

App stack(App app, int fd, mw::LogFormat format) {
  return mw::common_logger({.format = format, .fd = fd})(std::move(app));
}

} // namespace

TEST_CASE("CommonLogger writes Apache's Common Log Format with the duration") {
  Capture cap;
  MockRequest req(stack(
      [](Env&) -> Response {
        return {201, {}, "created"};
      },
      cap.fds[1], mw::LogFormat::common));
  req.get("/things?x=1");
  std::string line = cap.read();
  std::regex clf(R"(^127\.0\.0\.1 - - \[\d\d/\w\w\w/\d{4}:\d\d:\d\d:\d\d \+0000\] )"
                 R"("GET /things\?x=1 HTTP/1\.1" 201 7 \d+\.\d{4}\n$)");
  CHECK(std::regex_match(line, clf));
}

TEST_CASE("CommonLogger logs a late response with its real status and duration") {
  Capture cap;
  App app = [](Env& env) -> Response {
    env.loop().add_timer(Millis(1500), [cb = env.async_callback()] { cb({504, {}, "late"}); });
    return async;
  };
  MockRequest req(stack(app, cap.fds[1], mw::LogFormat::json));
  auto r = req.get("/slow");
  CHECK(r.status == 504);
  std::string line = cap.read();
  CHECK(line.find("\"status\":504") != std::string::npos);
  CHECK(line.find("\"bytes\":4") != std::string::npos);
  CHECK(line.find("\"duration\":1.5") != std::string::npos); // virtual time: exactly 1.5 s
  CHECK(line.find("\"path\":\"/slow\"") != std::string::npos);
}

TEST_CASE("CommonLogger counts a streamed body when it ends, and the outcome") {
  Capture cap;
  App app = [](Env&) -> Response {
    return {200, {}, stream([](DeferrableBody out) {
              out.write("abc");
              out.write("defg");
            })};
  };
  MockRequest req(stack(app, cap.fds[1], mw::LogFormat::json));
  req.get("/s");
  std::string line = cap.read();
  CHECK(line.find("\"bytes\":7") != std::string::npos);
  CHECK(line.find("\"outcome\":\"done\"") != std::string::npos);
}

TEST_CASE("CommonLogger's JSON escapes what it quotes") {
  Capture cap;
  MockRequest req(stack(
      [](Env&) -> Response {
        return {404, {}, ""};
      },
      cap.fds[1], mw::LogFormat::json));
  req.get("/a%22b");
  std::string line = cap.read();
  CHECK(line.find("\"path\":\"/a%22b\"") != std::string::npos);
  CHECK(line.find("\"bytes\":0") != std::string::npos);
  CHECK(line.back() == '\n');
}

TEST_CASE("CommonLogger logs the path it saw, before inner middleware rewrote it") {
  Capture cap;
  App inner = Builder([](Builder& b) {
                b.map("/api", [](Builder& api) {
                  api.run([](Env&) -> Response { return {200, {}, "ok"}; });
                });
              }).to_app();
  MockRequest req(stack(inner, cap.fds[1], mw::LogFormat::common));
  req.get("/api/users");
  CHECK(cap.read().find("\"GET /api/users HTTP/1.1\" 200 2 ") != std::string::npos);
}

TEST_CASE("CommonLogger escapes quotes, backslashes and control bytes as Apache does") {
  Capture cap;
  MockRequest req(stack(
      [](Env&) -> Response {
        return {200, {}, "ok"};
      },
      cap.fds[1], mw::LogFormat::common));
  // A target that tries to close the quoted request and forge a second line.
  req.request("GET",
              "/a\"b\\c\n127.0.0.1 - - [x] \"GET /admin HTTP/1.1\" 200 1 0.0\r\t\x01\x7f\xff",
              {.remote_addr = "10.0.0.1\n", .lint = false});
  std::string line = cap.read();
  CHECK(line == line.substr(0, line.find('\n') + 1)); // one line
  CHECK(line.starts_with("10.0.0.1\\n - - ["));
  CHECK(
      line.find(
          R"("GET /a\"b\\c\n127.0.0.1 - - [x] \"GET /admin HTTP/1.1\" 200 1 0.0\r\t\x01\x7f\xff HTTP/1.1" 200 2 )") !=
      std::string::npos);
}

TEST_CASE("CommonLogger escapes the method, query and protocol too") {
  Capture cap;
  MockRequest req(stack(
      [](Env&) -> Response {
        return {204, {}, {}};
      },
      cap.fds[1], mw::LogFormat::common));
  req.request("GE\"T", "/p?q=\"1\"\x02", {.protocol = "HTTP/1.1\" 500", .lint = false});
  std::string line = cap.read();
  CHECK(line.find(R"("GE\"T /p?q=\"1\"\x02 HTTP/1.1\" 500" 204 - )") != std::string::npos);
}

TEST_CASE("CommonLogger's JSON stays one valid line for any bytes: controls escaped, broken "
          "UTF-8 as \\xhh text") {
  Capture cap;
  MockRequest req(stack(
      [](Env&) -> Response {
        return {200, {}, ""};
      },
      cap.fds[1], mw::LogFormat::json));
  req.request("GET", "/caf\xc3\xa9/\"\\\n\x7f\xff\xc3(\xed\xa0\x80\xf0\x9f\x98\x80?a=\x01",
              {.lint = false});
  std::string line = cap.read();
  CHECK(line == line.substr(0, line.find('\n') + 1));
  CHECK(line.find(R"("path":"/caf)"
                  "\xc3\xa9"
                  R"(/\"\\\u000a\u007f\\xff\\xc3(\\xed\\xa0\\x80)"
                  "\xf0\x9f\x98\x80"
                  R"(")") != std::string::npos);
  CHECK(line.find(R"("query":"a=\u0001")") != std::string::npos);
}

TEST_CASE("CommonLogger logs a path an outer middleware rewrote into its own string") {
  Capture cap;
  App logged = stack(
      [](Env&) -> Response {
        return {200, {}, "ok"};
      },
      cap.fds[1], mw::LogFormat::common);
  // Not a view into the request's target: the logger keeps its own copy of it.
  App rewrite = [&logged](Env& env) {
    env.set_path(env.keep("/rewritten/" + std::string(env.path().substr(1))));
    return logged(env);
  };
  MockRequest req(rewrite);
  req.get("/x");
  CHECK(cap.read().find("\"GET /rewritten/x HTTP/1.1\" 200 2 ") != std::string::npos);
}
