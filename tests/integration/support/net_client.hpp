// Test support: a lithe server in-process on an ephemeral port (plain or TLS), a raw socket
// client with bounded waits (no sleeps) that speaks TLS when the server does, and a way to run
// real clients (curl, node, python) with a time limit. Every backend runs the same tests
// through these.
#pragma once

#include <lithe/lithe.hpp>
#include <lithe/server.hpp>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <utility>
#include <vector>

struct ssl_st;
struct ssl_ctx_st;

namespace lithe::test {

using namespace std::chrono_literals;

/// The backends every conformance test runs against. A new backend is added here. The TLS
/// tags run the same backend with the dev certificates (dev_certs.hpp): HTTPS.
struct Epoll {
  static constexpr const char* name = "epoll";
  static constexpr bool tls = false;
};
struct Uv {
  static constexpr const char* name = "uv";
  static constexpr bool tls = false;
};
struct EpollTls {
  static constexpr const char* name = "epoll";
  static constexpr bool tls = true;
};
struct UvTls {
  static constexpr const char* name = "uv";
  static constexpr bool tls = true;
};
struct Uring {
  static constexpr const char* name = "uring";
  static constexpr bool tls = false;
};
struct UringTls {
  static constexpr const char* name = "uring";
  static constexpr bool tls = true;
};

template <class T>
concept BackendTag = requires {
  { T::name } -> std::convertible_to<const char*>;
  { T::tls } -> std::convertible_to<bool>;
};

/// The dev certificates (ECDSA, localhost and 127.0.0.1) as server options.
TlsOptions dev_tls();

/// A server running `app` on 127.0.0.1 with an ephemeral port; stopped on destruction.
class TestServer {
public:
  TestServer(std::string backend, App app, HttpOptions http = {}, int threads = 1);
  /// With whole server options (the backend, port 0 and the host are set here; options.tls
  /// is kept, so a server with certificates speaks HTTPS).
  TestServer(std::string backend, App app, ServerOptions options);
  /// A backend tag: the backend it names, with the dev certificates when it is a TLS tag.
  template <BackendTag B>
  TestServer(B, App app, HttpOptions http = {}, int threads = 1)
      : TestServer(B::name, std::move(app), tagged_options(B::tls, std::move(http), threads)) {}
  template <BackendTag B>
  TestServer(B, App app, ServerOptions options)
      : TestServer(B::name, std::move(app), with_dev_tls(B::tls, std::move(options))) {}
  ~TestServer();
  std::uint16_t port() const noexcept { return server_.port(); }
  /// Whether it speaks HTTPS; then clients verify it against dev_certs().ca.
  bool tls() const noexcept { return tls_; }
  Server& server() noexcept { return server_; }
  WorkerStats stats() const { return server_.stats(); }
  /// Waits (bounded) until the server's live counters are back to zero: nothing leaked.
  bool settles(std::chrono::milliseconds within = 3s) const;
  /// "http://127.0.0.1:PORT/path", or https:// with TLS.
  std::string url(std::string_view path = "/") const;
  /// curl with its usual flags (-sS, a time limit, the dev CA with TLS), then `args`.
  std::vector<std::string> curl(std::vector<std::string> args) const;

private:
  static ServerOptions tagged_options(bool tls, HttpOptions http, int threads);
  static ServerOptions with_dev_tls(bool tls, ServerOptions options);
  Server server_;
  bool tls_ = false;
};

/// How a RawClient speaks TLS.
struct TlsClientOptions {
  std::string ca_file;     // the server is verified against it (for 127.0.0.1); "": not at all
  std::string server_name; // sent as SNI; "": none
  std::vector<std::string> alpn = {"http/1.1"};
  int max_version = 0; // 0x0303 keeps to TLS 1.2; 0: the newest
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

/// A blocking TCP client whose every read has a deadline; over TLS (OpenSSL) when built from
/// a TestServer that speaks it, or with TlsClientOptions. The TLS handshake happens in the
/// constructor (bounded by 5 s); when it fails the client is not connected() and
/// tls_error() says why.
class RawClient {
public:
  explicit RawClient(std::uint16_t port);
  /// Plain TCP or TLS, as the server speaks.
  explicit RawClient(const TestServer& server);
  RawClient(std::uint16_t port, const TlsClientOptions& tls);
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

  /// TLS: the session (nullptr when plain), why the handshake failed, the CN of the server's
  /// certificate, the version ("TLSv1.3"), and whether the peer's close was a clean one
  /// (close_notify, not a bare EOF).
  ssl_st* ssl() const noexcept { return ssl_.get(); }
  const std::string& tls_error() const noexcept { return tls_error_; }
  std::string peer_name() const;
  std::string tls_version() const;
  bool clean_close() const noexcept { return clean_close_; }

private:
  struct SslFree {
    void operator()(ssl_st* s) const noexcept;
    void operator()(ssl_ctx_st* c) const noexcept;
  };
  void start_tls(const TlsClientOptions& tls);
  bool fill(std::chrono::steady_clock::time_point until);
  int fd_ = -1;
  std::string buf_;
  bool eof_ = false;
  std::unique_ptr<ssl_ctx_st, SslFree> ctx_;
  std::unique_ptr<ssl_st, SslFree> ssl_;
  std::string tls_error_;
  bool clean_close_ = false;
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

/// A loopback port free now (bound and released: another program may take it first).
std::uint16_t free_port();
/// True once something accepts on 127.0.0.1:`port`, polling until `within`.
bool accepting(std::uint16_t port, std::chrono::milliseconds within = 10s);

/// A program in the foreground (haproxy, nginx, systemd-socket-activate) running until
/// destroyed, then stopped by its pid (SIGTERM, then waited for).
class Daemon {
public:
  explicit Daemon(std::vector<std::string> argv, std::vector<std::string> env = {});
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;
  pid_t pid() const noexcept { return pid_; }
  /// Sends `sig` and waits for the exit: the exit status (waitpid's), once.
  int stop(int sig);

private:
  pid_t pid_ = -1;
  int status_ = -1;
};

/// An app with a few routes the suites share: /, /echo (body back), /delay/N (async, N ms),
/// /stream/N (N chunks of a deferrable body), /big/N (N bytes).
App conformance_app();
/// n bytes of 'x' with a letter every 1000 bytes ('a' + i / 1000 % 26): what /big/N and
/// /file/N answer, so a reader can check every byte arrived in place.
std::string big_body(std::size_t n);

} // namespace lithe::test
