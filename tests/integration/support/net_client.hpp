// Test support: a lithe server in-process on an ephemeral port, a raw socket client with
// bounded waits (no sleeps), and a way to run real clients (curl, node, python) with a
// time limit. Every backend runs the same tests through these.
#pragma once

#include <lithe/lithe.hpp>
#include <lithe/server.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lithe::test {

using namespace std::chrono_literals;

/// The backends every conformance test runs against. A new backend is added here.
struct Epoll {
  static constexpr const char* name = "epoll";
};
struct Uv {
  static constexpr const char* name = "uv";
};

/// A server running `app` on 127.0.0.1 with an ephemeral port; stopped on destruction.
class TestServer {
public:
  TestServer(std::string backend, App app, HttpOptions http = {}, int threads = 1);
  /// With whole server options (the backend, port 0 and the host are set here).
  TestServer(std::string backend, App app, ServerOptions options);
  ~TestServer();
  std::uint16_t port() const noexcept { return server_.port(); }
  Server& server() noexcept { return server_; }
  WorkerStats stats() const { return server_.stats(); }
  /// Waits (bounded) until the server's live counters are back to zero: nothing leaked.
  bool settles(std::chrono::milliseconds within = 3s) const;
  std::string url(std::string_view path = "/") const;

private:
  Server server_;
};

struct HttpResponse {
  int status = 0;
  std::string reason;
  std::string version;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool chunked = false;
  std::optional<std::string> header(std::string_view name) const;
  std::size_t count(std::string_view name) const;
};

/// A blocking TCP client whose every read has a deadline.
class RawClient {
public:
  explicit RawClient(std::uint16_t port);
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const noexcept { return fd_ >= 0; }
  int fd() const noexcept { return fd_; }
  /// Sends everything (false if the peer is gone).
  bool send(std::string_view bytes);
  /// Sends `bytes` in pieces of `piece` bytes, each its own write.
  bool send_in_pieces(std::string_view bytes, std::size_t piece);
  void shutdown_write();
  void set_receive_buffer(int bytes);
  /// Reads one response (Content-Length, chunked, or until close; no body for HEAD/1xx/
  /// 204/304). nullopt when the deadline passes or the peer closes first.
  std::optional<HttpResponse> read_response(std::chrono::milliseconds deadline = 5s,
                                            bool head = false);
  /// Reads whatever arrives until `n` bytes or the deadline.
  std::string read_bytes(std::size_t n, std::chrono::milliseconds deadline = 5s);
  /// Reads until `what` arrived (returned with all before it; later bytes stay buffered), or
  /// returns what came by the deadline or the peer's close.
  std::string read_until(std::string_view what, std::chrono::milliseconds deadline = 5s);
  /// True when the peer closes (EOF or reset) within the deadline; bytes before it dropped.
  bool closed_by_peer(std::chrono::milliseconds deadline = 5s);
  /// Bytes received but not yet consumed by read_response.
  const std::string& pending() const noexcept { return buf_; }

private:
  bool fill(std::chrono::steady_clock::time_point until);
  int fd_ = -1;
  std::string buf_;
  bool eof_ = false;
};

/// A request as bytes: "GET / HTTP/1.1\r\nHost: test\r\n\r\n" plus extra header lines.
std::string get(std::string_view path, std::string_view extra_headers = "");

struct ProcessResult {
  int exit_code = -1; // -1: killed at the deadline
  std::string out;
  std::string err;
};
/// Runs a program (argv[0] found on PATH) with a deadline, capturing stdout and stderr.
ProcessResult run_process(const std::vector<std::string>& argv,
                          std::chrono::milliseconds deadline = 20s,
                          std::string_view stdin_data = "",
                          const std::vector<std::string>& env = {});

/// An app with a few routes the suites share: /, /echo (body back), /delay/N (async, N ms),
/// /stream/N (N chunks of a deferrable body), /big/N (N bytes).
App conformance_app();
/// n bytes of 'x' with a letter every 1000 bytes ('a' + i / 1000 % 26): what /big/N and
/// /file/N answer, so a reader can check every byte arrived in place.
std::string big_body(std::size_t n);

} // namespace lithe::test
