// CommonLogger through a real server on every backend: a late response to a request whose head
// came in several reads is logged with its path, after the engine moved the request's bytes
// (SPEC 2.9) and reused the buffer they were read into; a request line that tries to forge a
// log line is escaped.
#include "support/backends.hpp"
#include "support/net_client.hpp"

#include <lithe/mw/common_logger.hpp>

#include <catch2/catch.hpp>

#include <condition_variable>
#include <fcntl.h>
#include <mutex>
#include <optional>
#include <poll.h>
#include <unistd.h>
#include <vector>

using namespace lithe;
using namespace lithe::test;

namespace {

/// A pipe the logger writes into, read line by line with a deadline.
class LogPipe {
public:
  LogPipe() { REQUIRE(::pipe2(fds_, O_CLOEXEC) == 0); }
  ~LogPipe() {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  int fd() const noexcept { return fds_[1]; }
  /// The next line written, or what came before the deadline.
  std::string line(std::chrono::milliseconds deadline = 5s) {
    auto until = std::chrono::steady_clock::now() + deadline;
    while (buf_.find('\n') == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      pollfd p{fds_[0], POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char tmp[4096];
      ssize_t n = ::read(fds_[0], tmp, sizeof tmp);
      if (n <= 0) break;
      buf_.append(tmp, static_cast<std::size_t>(n));
    }
    std::size_t end = buf_.find('\n');
    end = end == std::string::npos ? buf_.size() : end + 1;
    std::string out = buf_.substr(0, end);
    buf_.erase(0, end);
    return out;
  }

private:
  int fds_[2];
  std::string buf_;
};

/// An app that answers /late/... when the test says so (through the async callbacks it hands
/// over, in arrival order), and anything else at once.
class Late {
public:
  App app() {
    return [this](Env& env) -> Response {
      if (!env.path().starts_with("/late")) return {200, {}, "now"};
      std::lock_guard lock(mu_);
      callbacks_.push_back(env.async_callback());
      called_.notify_all();
      return async;
    };
  }
  /// The n-th callback (from 0), once the app was called that often.
  std::optional<AsyncCallback> wait(std::size_t n, std::chrono::milliseconds within = 5s) {
    std::unique_lock lock(mu_);
    if (!called_.wait_for(lock, within, [&] { return callbacks_.size() > n; })) return std::nullopt;
    return callbacks_[n];
  }

private:
  std::mutex mu_;
  std::condition_variable called_;
  std::vector<AsyncCallback> callbacks_;
};

} // namespace

TEMPLATE_TEST_CASE("CommonLogger logs the path of late responses whose requests came in "
                   "pieces",
                   "[logger][async]", LITHE_BACKENDS) {
  LogPipe log;
  Late late;
  TestServer s(TestType::name, mw::common_logger({.fd = log.fd()})(late.app()));
  // A head sent a few bytes per write: read where it lands (often the worker's read buffer,
  // which the next read of any connection overwrites), then kept by the exchange, still
  // waiting for its response, in its own copy of the request.
  RawClient one(s.port());
  REQUIRE(one.send_in_pieces(get("/late/one?q=1"), 3));
  auto first = late.wait(0);
  REQUIRE(first);
  // A request larger than one read (64 KiB): gathered in the connection's input buffer, which
  // is freed once the request is dispatched, being over 64 KiB (ASan sees any read of it).
  RawClient two(s.port());
  const std::string body(200 * 1024, 'b');
  REQUIRE(two.send_in_pieces("POST /late/two/path HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                                 std::to_string(body.size()) + "\r\n\r\n",
                             3));
  REQUIRE(two.send(body));
  auto second = late.wait(1);
  REQUIRE(second);
  // Another request in pieces, larger than the first head, reuses the buffers they were read in.
  RawClient other(s.port());
  REQUIRE(other.send_in_pieces(get("/other", "X-Filler: " + std::string(4096, 'f') + "\r\n"), 512));
  auto r = other.read_response();
  REQUIRE(r);
  CHECK(r->body == "now");
  CHECK(log.line().find("\"GET /other HTTP/1.1\" 200 3 ") != std::string::npos);

  CHECK((*first)({200, {}, "late"}));
  r = one.read_response();
  REQUIRE(r);
  CHECK(r->body == "late");
  std::string line = log.line();
  INFO(line);
  CHECK(line.find("\"GET /late/one?q=1 HTTP/1.1\" 200 4 ") != std::string::npos);

  CHECK((*second)({201, {}, "later"}));
  r = two.read_response();
  REQUIRE(r);
  CHECK(r->status == 201);
  line = log.line();
  INFO(line);
  CHECK(line.find("\"POST /late/two/path HTTP/1.1\" 201 5 ") != std::string::npos);
}

TEMPLATE_TEST_CASE("A request line cannot forge a log line", "[logger][security]", LITHE_BACKENDS) {
  LogPipe log;
  TestServer s(TestType::name, mw::common_logger({.fd = log.fd()})([](Env&) -> Response {
                 return {200, {}, ""};
               }));
  RawClient c(s.port());
  // What the parser lets through in a target: quotes and backslashes (not spaces, controls or
  // bytes past ASCII: those are 400 before any app or logger sees them).
  c.send("GET /a\"b\\c\"?x=\"y\" HTTP/1.1\r\nHost: t\r\n\r\n");
  auto r = c.read_response();
  REQUIRE(r);
  REQUIRE(r->status == 200);
  std::string line = log.line();
  INFO(line);
  CHECK(line.find(R"("GET /a\"b\\c\"?x=\"y\" HTTP/1.1" 200 - )") != std::string::npos);
  CHECK(line.find('\n') == line.size() - 1);
}
