// Running an app: lithe::Server picks a backend by name and serves an app with the HTTP/1.1
// engine; lithe::run is the whole program around it, with the flags every lithe app takes
// (--backend, --host, --port, --threads, --log, --help), signals and a graceful stop.
#pragma once

#include <lithe/app.hpp>
#include <lithe/backend.hpp>
#include <lithe/http.hpp>
#include <lithe/mw/metrics.hpp>
#include <lithe/proxy_protocol.hpp>
#include <lithe/thread_pool.hpp>
#include <lithe/tls.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace lithe {

struct ServerOptions {
  std::string backend = "epoll";
  ListenConfig listen;
  HttpOptions http;
  /// Loop::defer and lithe::in_thread's pool (EM.defer): bounded threads and queue, owned by
  /// the Server and joined when it stops.
  ThreadPoolOptions thread_pool;
  /// HTTPS and WSS when it holds a certificate (docs/tls.md).
  TlsOptions tls;
  /// Every connection starts with a PROXY header (v1 or v2) from a balancer, whose source
  /// address becomes REMOTE_ADDR (docs/proxy_protocol.md). Only where nothing else connects.
  bool proxy_protocol = false;
  /// Graceful stop: in-flight requests get this long to finish; the rest are closed.
  std::chrono::milliseconds stop_deadline{5'000};
};

class Server {
public:
  explicit Server(App app, ServerOptions options = {});
  ~Server(); // stops, if running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds and starts the workers; returns what failed (an unknown backend, a bind error, a
  /// certificate that cannot be loaded); error_message() says it in words.
  std::error_code start();
  const std::string& error_message() const noexcept { return error_; }
  /// Reads the TLS certificates and keys again (SIGHUP): new handshakes use them, open
  /// connections keep theirs. Returns the error, or "" (also when TLS is off).
  std::string reload_tls();
  /// The loaded certificates (after start), or nullptr without TLS.
  const TlsContext* tls() const noexcept { return tls_.get(); }
  /// The bound port (after start; useful with port 0).
  std::uint16_t port() const noexcept;
  /// The backend serving (after start): the one asked for, or the one it fell back to
  /// ("uring" runs on "epoll" where io_uring is missing or forbidden).
  std::string_view backend_name() const noexcept;
  /// Graceful stop within the options' deadline. Returns when every worker ended.
  void stop();
  /// Blocks until the workers end.
  void wait();
  WorkerStats stats() const;
  /// Every worker's loop ran a task posted to it within `within` (the systemd watchdog's test).
  bool responsive(std::chrono::milliseconds within) const;
  const ServerOptions& options() const noexcept { return options_; }
  /// The pool behind Loop::defer (after start).
  ThreadPool* thread_pool() const noexcept { return pool_.get(); }
  /// The listening sockets a restart hands to the new process (after start; owned here).
  std::vector<int> listen_sockets() const;
  /// They were handed over: the stop that follows leaves a unix socket's file in place.
  void handed_over() noexcept;

private:
  App app_;
  ServerOptions options_;
  std::string error_;
  std::shared_ptr<TlsContext> tls_;
  std::unique_ptr<ThreadPool> pool_; // after the workers stop: its late posts then fail safely
  std::unique_ptr<Backend> backend_;
};

/// The names of the backends linked in ("epoll", "uv", "uring").
std::vector<std::string> backend_names();

/// The common command line of lithe apps.
struct CommandLine {
  ServerOptions server;
  std::string log = "off";  // off | common | json
  std::string metrics_path; // --metrics PATH: Prometheus text there (docs/metrics.md)
  bool health = false;      // --health on: /healthz and /readyz
  std::string pid_file;     // --pid-file PATH: this process's pid, rewritten by a restart
  /// --restart-timeout: how long a restart (SIGUSR2) waits for the new process to listen.
  std::chrono::milliseconds restart_timeout{30'000};
  /// With --metrics, what records (made before the app, so the app may add its own sources).
  std::shared_ptr<mw::Metrics> metrics;
  std::map<std::string, std::string> extra; // the app's own flags
  bool help = false;
  std::string error; // set when the flags are wrong
};

/// An app's own flag: `--name VALUE`, described in --help.
struct ExtraFlag {
  std::string name;
  std::string help;
  std::string default_value;
};

CommandLine parse_command_line(int argc, const char* const* argv, const ServerOptions& defaults,
                               const std::vector<ExtraFlag>& extra = {});

struct Program {
  std::string name;        // "lithe-hello": the listening line and messages use it
  std::string description; // one line for --help
  ServerOptions defaults;
  std::vector<ExtraFlag> extra_flags;
  /// After a restart handed the sockets to the new process (which listens by then), before
  /// this one drains: an app fed by a broker lets what is on its way arrive first, so streams
  /// that end now miss nothing the new process cannot replay (RedisBridge::sync).
  std::function<void()> before_drain;
};

/// The whole program: parse the flags, build the app (with the chosen logger around it),
/// start, print "NAME listening on http://HOST:PORT (BACKEND, N threads)", wait for SIGTERM
/// or SIGINT, stop gracefully and return 0 (1 if it could not start, 2 for bad flags). SIGHUP
/// reloads the TLS certificates. SIGUSR2 restarts without dropping a connection: a new copy of
/// the program takes the listening sockets, and once it listens this one drains and exits 0
/// (docs/deploy.md).
int run(const Program& program, int argc, char** argv,
        const std::function<App(const CommandLine&)>& make_app);
int run(const Program& program, int argc, char** argv, App app);

} // namespace lithe
