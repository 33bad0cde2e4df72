// MockRequest calls an app without a socket (Rack::MockRequest), on a loop with virtual
// time, so async, deferrable and streaming apps are tested in-process and instantly.
#pragma once

#include <lithe/app.hpp>
#include <lithe/manual_loop.hpp>
#include <lithe/thread_pool.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace lithe {

struct MockOptions {
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote_addr = "127.0.0.1";
  std::string url_scheme = "http";
  std::string protocol = "HTTP/1.1";
  /// The longest (virtual) time to wait for a late response or a body to end.
  std::chrono::milliseconds timeout{std::chrono::hours(1)};
  /// Pretend the client leaves after this long (virtual time), to test on_close paths.
  std::optional<std::chrono::milliseconds> client_leaves_after;
  /// Lint the request and response (on by default in tests).
  bool lint = true;
};

struct MockResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::vector<std::string> chunks; // the body as the app wrote it, one entry per write
  bool finished = false;           // the response ended (as opposed to: still pending)
  CloseReason reason = CloseReason::done;
  bool hijacked = false;

  std::optional<std::string_view> header(std::string_view name) const;
};

class MockRequest {
public:
  explicit MockRequest(App app);
  ~MockRequest();

  MockResponse get(std::string_view target, MockOptions opts = {});
  MockResponse post(std::string_view target, std::string body, MockOptions opts = {});
  MockResponse request(std::string_view method, std::string_view target, MockOptions opts = {});

  /// The loop the app sees (env.loop()): its clock moves only as the mock waits. Its
  /// thread pool (Loop::defer, lithe::in_thread) is the mock's own, two threads.
  ManualLoop& loop() noexcept;
  ThreadPool& thread_pool() noexcept;

private:
  App app_;
  std::unique_ptr<ThreadPool> pool_; // outlives the loop: its jobs' posts then fail safely
  std::unique_ptr<ManualLoop> loop_;
};

} // namespace lithe
