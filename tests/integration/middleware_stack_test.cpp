// Late responses pass through the middleware stack (issue: Thin's async responses skipped
// it): over real sockets on every backend, CommonLogger logs a late response with its real
// status and duration, and Deflater and Runtime treat it exactly as an immediate one.
#include "support/backends.hpp"
#include "support/net_client.hpp"

#include <lithe/mw/common_logger.hpp>
#include <lithe/mw/deflater.hpp>
#include <lithe/mw/runtime.hpp>

#include <catch2/catch.hpp>

#include <poll.h>
#include <unistd.h>

using namespace lithe;
using namespace lithe::test;

TEMPLATE_TEST_CASE("A late response is logged, timed and compressed like an immediate one",
                   "[middleware][async]", LITHE_BACKENDS) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const std::string text(3000, 'q');
  App app = [&text](Env& env) -> Response {
    if (env.path() == "/now") return {200, {{"Content-Type", "text/plain"}}, text};
    env.loop().add_timer(Millis(300), [cb = env.async_callback(), &text] {
      cb({202, {{"Content-Type", "text/plain"}}, text});
    });
    return async;
  };
  App stack = Builder([&](Builder& b) {
                b.use(mw::common_logger({.format = mw::LogFormat::json, .fd = fds[1]}));
                b.use(mw::runtime());
                b.use(mw::deflater());
                b.run(app);
              }).to_app();
  TestServer s(TestType::name, stack);
  RawClient c(s.port());
  c.send(get("/now", "Accept-Encoding: gzip\r\n"));
  auto now = c.read_response();
  c.send(get("/later", "Accept-Encoding: gzip\r\n"));
  auto later = c.read_response();
  REQUIRE(now);
  REQUIRE(later);
  CHECK(later->status == 202);
  CHECK(later->header("Content-Encoding") == "gzip");
  CHECK(later->body == now->body); // the same bytes, compressed the same way
  CHECK(std::stod(*later->header("X-Runtime")) >= 0.3);
  // The line is written when the response ended on the server, just after the client has it.
  std::string log;
  for (int i = 0; i < 50 && log.find("/later") == std::string::npos; ++i) {
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, 100) == 1) {
      char buf[4096];
      ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n > 0) log.append(buf, static_cast<std::size_t>(n));
    }
  }
  CHECK(log.find("\"path\":\"/now\",\"query\":\"\",\"protocol\":\"HTTP/1.1\",\"status\":200") !=
        std::string::npos);
  auto late_line = log.find("\"path\":\"/later\"");
  REQUIRE(late_line != std::string::npos);
  CHECK(log.find("\"status\":202", late_line) != std::string::npos);
  auto d = log.find("\"duration\":", late_line);
  REQUIRE(d != std::string::npos);
  CHECK(std::stod(log.substr(d + 11)) >= 0.3);
  ::close(fds[0]);
  ::close(fds[1]);
}
