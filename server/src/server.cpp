// Server and run(): the backend registry, the common flags, signals and the graceful stop.
#include <lithe/backends/epoll.hpp>
#include <lithe/backends/uring.hpp>
#include <lithe/backends/uv.hpp>
#include <lithe/log.hpp>
#include <lithe/mw/common_logger.hpp>
#include <lithe/mw/health.hpp>
#include <lithe/server.hpp>
#include <lithe/systemd.hpp>

#include "restart.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <iostream>
#include <pthread.h>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace lithe {

namespace {

void register_backends() {
  static bool done = [] {
    backends().push_back({"epoll", [] { return backend::make_epoll_backend(); }});
    backends().push_back({"uv", [] { return backend::make_uv_backend(); }});
    // io_uring where the kernel has it and allows it; else epoll, saying why in one line.
    backends().push_back({"uring", []() -> std::unique_ptr<Backend> {
                            std::string why = backend::uring_unavailable();
                            if (why.empty()) return backend::make_uring_backend();
                            log_error("uring backend unavailable: " + why +
                                      "; serving with the epoll backend");
                            return backend::make_epoll_backend();
                          }});
    return true;
  }();
  (void)done;
}

} // namespace

std::vector<std::string> backend_names() {
  register_backends();
  std::vector<std::string> names;
  for (const BackendInfo& b : backends())
    names.push_back(b.name);
  return names;
}

Server::Server(App app, ServerOptions options)
    : app_(std::move(app)), options_(std::move(options)) {}

Server::~Server() {
  stop();
}

std::error_code Server::start() {
  register_backends();
  // A peer that vanished must not kill the process: epoll's writes use MSG_NOSIGNAL, but
  // sendfile(2) and libuv's writev(2) can still raise SIGPIPE.
  struct sigaction old {};
  if (::sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL)
    std::signal(SIGPIPE, SIG_IGN);
  error_.clear();
  backend_ = make_backend(options_.backend);
  if (!backend_) {
    error_ = "unknown backend '" + options_.backend + "'";
    return std::make_error_code(std::errc::invalid_argument);
  }
  ServiceFactory service = http_service(app_, options_.http);
  if (!options_.tls.certificates.empty()) {
    tls_ = TlsContext::create(options_.tls, error_);
    if (!tls_) {
      backend_.reset();
      return std::make_error_code(std::errc::invalid_argument);
    }
    service = tls_service(std::move(service), tls_);
  }
  // Outermost: the PROXY header comes before anything else, the TLS handshake included.
  if (options_.proxy_protocol) service = proxy_protocol_service(std::move(service));
  pool_ = std::make_unique<ThreadPool>(options_.thread_pool);
  ListenConfig listen = options_.listen;
  listen.thread_pool = pool_.get();
  std::error_code ec = backend_->start(listen, std::move(service));
  if (ec) {
    error_ = ec.message();
    backend_.reset();
    pool_.reset();
    tls_.reset();
  }
  return ec;
}

std::uint16_t Server::port() const noexcept {
  return backend_ ? backend_->port() : 0;
}

std::string_view Server::backend_name() const noexcept {
  return backend_ ? backend_->name() : std::string_view(options_.backend);
}

void Server::stop() {
  // The workers first (in-flight requests may still wait on the pool), then the pool: work
  // still queued is dropped, running work is joined, and what it posts to a loop that has
  // ended is dropped safely.
  if (backend_) backend_->stop(options_.stop_deadline);
  if (pool_) pool_->stop();
}

bool Server::responsive(std::chrono::milliseconds within) const {
  return backend_ && backend_->responsive(within);
}

std::string Server::reload_tls() {
  return tls_ ? tls_->reload() : std::string();
}

void Server::wait() {
  if (backend_) backend_->wait();
}

WorkerStats Server::stats() const {
  return backend_ ? backend_->stats() : WorkerStats{};
}

std::vector<int> Server::listen_sockets() const {
  return backend_ ? backend_->listen_sockets() : std::vector<int>{};
}

void Server::handed_over() noexcept {
  if (backend_) backend_->handed_over();
}

// ---- The command line

namespace {

bool parse_int(std::string_view s, long lo, long hi, long& out) {
  long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < lo || v > hi) return false;
  out = v;
  return true;
}

// A number with an optional unit from `units` (its multiplier), within [1, max] once scaled:
// "64k" → 65536, "20s" → 20000 (ms).
struct Unit {
  std::string_view name;
  std::uint64_t scale;
};
bool parse_scaled(std::string_view s, std::initializer_list<Unit> units, std::uint64_t max,
                  std::uint64_t& out) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p == s.data()) return false;
  std::string_view unit(p, static_cast<std::size_t>(s.data() + s.size() - p));
  std::uint64_t scale = 0;
  for (const Unit& u : units)
    if (u.name == unit) scale = u.scale;
  if (scale == 0 || v == 0 || v > max / scale) return false;
  out = v * scale;
  return true;
}

// "65536", "64k", "1M", "2G" (binary multiples) → bytes, up to 1 TiB.
bool parse_size(std::string_view s, std::size_t& out) {
  std::uint64_t v = 0;
  if (!parse_scaled(s,
                    {{"", 1},
                     {"k", 1 << 10},
                     {"K", 1 << 10},
                     {"KiB", 1 << 10},
                     {"m", 1 << 20},
                     {"M", 1 << 20},
                     {"MiB", 1 << 20},
                     {"g", 1 << 30},
                     {"G", 1 << 30},
                     {"GiB", 1 << 30}},
                    std::uint64_t{1} << 40, v))
    return false;
  out = static_cast<std::size_t>(v);
  return true;
}

// "500ms", "20s", "2m", or milliseconds → a duration, up to a day.
bool parse_duration(std::string_view s, std::chrono::milliseconds& out) {
  std::uint64_t ms = 0;
  if (!parse_scaled(s, {{"", 1}, {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"min", 60'000}},
                    86'400'000, ms))
    return false;
  out = std::chrono::milliseconds(ms);
  return true;
}

std::string size_text(std::size_t n) {
  if (n % (1 << 20) == 0) return std::to_string(n >> 20) + "M";
  if (n % (1 << 10) == 0) return std::to_string(n >> 10) + "k";
  return std::to_string(n);
}

std::string duration_text(std::chrono::milliseconds d) {
  return d.count() % 1000 == 0 ? std::to_string(d.count() / 1000) + "s"
                               : std::to_string(d.count()) + "ms";
}

std::string usage(const Program& p) {
  std::string names;
  for (const std::string& n : backend_names())
    names += (names.empty() ? "" : "|") + n;
  std::string u = "usage: " + p.name + " [options]\n";
  if (!p.description.empty()) u += p.description + "\n";
  u += "\noptions:\n";
  auto flag = [&u](std::string left, const std::string& help) {
    left = "  " + left + " ";
    if (left.size() < 32) left.resize(32, ' ');
    u += left + help + "\n";
  };
  flag("--backend " + names, "server backend (default " + p.defaults.backend + ")");
  flag("--host HOST", "address to listen on (default " + p.defaults.listen.host + ")");
  flag("--port PORT", "port, 0 for any (default " + std::to_string(p.defaults.listen.port) + ")");
  flag("--unix PATH", "listen on this unix socket instead of --host/--port, or beside them when "
                      "either is given");
  flag("--unix-mode MODE", "the socket file's mode, octal (default 0660)");
  flag("--threads N",
       "worker threads, one loop each (default " + std::to_string(p.defaults.listen.threads) + ")");
  flag("--log off|common|json", "request log on stdout (default off)");
  flag("--metrics PATH", "Prometheus metrics at PATH, e.g. /metrics (default off)");
  flag("--health on|off", "/healthz (live) and /readyz (503 while stopping) (default off)");
  flag("--pid-file PATH", "write the pid there (a restart rewrites it with the new one's)");
  flag("--restart-timeout TIME",
       "at a restart (SIGUSR2), the wait for the new process to listen (default 30s)");
  const ServerOptions& d = p.defaults;
  const HttpOptions& h = d.http;
  flag("--max-connections N",
       "per worker; more wait in the backlog (default " +
           (d.listen.max_connections ? std::to_string(d.listen.max_connections)
                                     : std::string("the fd limit's share")) +
           ")");
  flag("--max-connection-memory SIZE",
       "memory one connection may hold (default " + size_text(h.max_connection_memory) + ")");
  flag("--max-body SIZE", "request body, read whole (default " + size_text(h.max_body_bytes) + ")");
  flag("--max-stream-body SIZE", "a streamed request body, when the app streams (default " +
                                     size_text(h.max_stream_body_bytes) + ")");
  flag("--max-header SIZE",
       "request line and headers (default " + size_text(h.max_header_bytes) + ")");
  flag("--high-water SIZE",
       "unsent bytes before backpressure (default " + size_text(h.high_water) + ")");
  flag("--header-timeout TIME",
       "time for a request's head (default " + duration_text(h.header_timeout) + ")");
  flag("--body-timeout TIME",
       "time between request body reads (default " + duration_text(h.body_timeout) + ")");
  flag("--idle-timeout TIME",
       "keep-alive wait for the next request (default " + duration_text(h.idle_timeout) + ")");
  flag("--send-timeout TIME",
       "time without write progress (default " + duration_text(h.send_timeout) + ")");
  flag("--pool-threads N",
       "threads for deferred work (default " + std::to_string(d.thread_pool.threads) + ")");
  flag("--pool-queue N",
       "deferred jobs waiting at most (default " + std::to_string(d.thread_pool.max_queued) + ")");
  flag("--proxy-protocol on|off", "connections start with a PROXY header (v1/v2) from a "
                                  "balancer (default " +
                                      std::string(d.proxy_protocol ? "on" : "off") + ")");
  flag("--tls-cert FILE", "HTTPS: certificate chain (PEM); repeat for SNI, with --tls-key each");
  flag("--tls-key FILE", "HTTPS: the private key of the --tls-cert before it (PEM)");
  flag("--tls-min 1.2|1.3", "oldest TLS version accepted (default " + d.tls.min_version + ")");
  flag("--tls-ciphers LIST", "TLS 1.2 ciphers, OpenSSL syntax (default: ECDHE + AEAD)");
  flag("--tls-ciphersuites LIST", "TLS 1.3 suites, OpenSSL syntax (default: all three)");
  flag("--tls-client-ca FILE", "ask clients for a certificate from these CAs (PEM)");
  flag("--tls-verify-client optional|required", "with --tls-client-ca (default optional)");
  flag("--tls-handshake-timeout TIME",
       "time for a TLS handshake (default " + duration_text(d.tls.handshake_timeout) + ")");
  for (const ExtraFlag& f : p.extra_flags)
    flag("--" + f.name + " VALUE",
         f.help + (f.default_value.empty() ? "" : " (default " + f.default_value + ")"));
  flag("--help", "this text");
  return u;
}

} // namespace

CommandLine parse_command_line(int argc, const char* const* argv, const ServerOptions& defaults,
                               const std::vector<ExtraFlag>& extra) {
  CommandLine cl;
  cl.server = defaults;
  for (const ExtraFlag& f : extra)
    cl.extra[f.name] = f.default_value;
  auto fail = [&cl](std::string msg) {
    if (cl.error.empty()) cl.error = std::move(msg);
  };
  static const std::map<std::string_view, std::size_t HttpOptions::*> size_flags = {
      {"max-connection-memory", &HttpOptions::max_connection_memory},
      {"max-body", &HttpOptions::max_body_bytes},
      {"max-stream-body", &HttpOptions::max_stream_body_bytes},
      {"max-header", &HttpOptions::max_header_bytes},
      {"high-water", &HttpOptions::high_water},
  };
  static const std::map<std::string_view, std::chrono::milliseconds HttpOptions::*> time_flags = {
      {"header-timeout", &HttpOptions::header_timeout},
      {"body-timeout", &HttpOptions::body_timeout},
      {"idle-timeout", &HttpOptions::idle_timeout},
      {"send-timeout", &HttpOptions::send_timeout},
  };
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      cl.help = true;
      continue;
    }
    if (!arg.starts_with("--")) {
      fail("unexpected argument '" + std::string(arg) + "'");
      continue;
    }
    std::string_view name = arg.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string_view::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    } else if (i + 1 < argc) {
      value = argv[++i];
      has_value = true;
    }
    if (!has_value) {
      fail("--" + std::string(name) + " needs a value");
      continue;
    }
    // An integer flag: `set` takes the value once it is in [lo, hi].
    auto integer = [&](long lo, long hi, auto set) {
      long n = 0;
      if (parse_int(value, lo, hi, n))
        set(n);
      else
        fail("--" + std::string(name) + " must be a number from " + std::to_string(lo) + " to " +
             std::to_string(hi) + ", not '" + std::string(value) + "'");
    };
    if (name == "backend") {
      cl.server.backend = value;
      auto names = backend_names();
      if (std::find(names.begin(), names.end(), value) == names.end())
        fail("unknown backend '" + std::string(value) + "'");
    } else if (name == "host") {
      cl.server.listen.host = value;
      cl.server.listen.tcp_too = true; // beside --unix, if given
    } else if (name == "port") {
      integer(0, 65535, [&](long n) { cl.server.listen.port = static_cast<std::uint16_t>(n); });
      cl.server.listen.tcp_too = true;
    } else if (name == "unix") {
      cl.server.listen.unix_path = value;
    } else if (name == "unix-mode") {
      unsigned mode = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), mode, 8);
      if (ec != std::errc() || p != value.data() + value.size() || mode > 0777)
        fail("--unix-mode must be an octal mode such as 0660, not '" + std::string(value) + "'");
      else
        cl.server.listen.unix_mode = mode;
    } else if (name == "threads") {
      integer(1, 256, [&](long n) { cl.server.listen.threads = static_cast<int>(n); });
    } else if (name == "max-connections") {
      integer(1, 1'000'000,
              [&](long n) { cl.server.listen.max_connections = static_cast<std::size_t>(n); });
    } else if (auto size = size_flags.find(name); size != size_flags.end()) {
      if (!parse_size(value, cl.server.http.*(size->second)))
        fail("--" + std::string(name) + " must be a size such as 65536, 64k or 1M, not '" +
             std::string(value) + "'");
    } else if (auto time = time_flags.find(name); time != time_flags.end()) {
      if (!parse_duration(value, cl.server.http.*(time->second)))
        fail("--" + std::string(name) + " must be a time such as 500ms, 20s or 2m, not '" +
             std::string(value) + "'");
    } else if (name == "pool-threads") {
      integer(1, 1024, [&](long n) { cl.server.thread_pool.threads = static_cast<unsigned>(n); });
    } else if (name == "pool-queue") {
      integer(1, 10'000'000,
              [&](long n) { cl.server.thread_pool.max_queued = static_cast<std::size_t>(n); });
    } else if (name == "metrics") {
      if (value.starts_with("/"))
        cl.metrics_path = value;
      else
        fail("--metrics must be a path such as /metrics, not '" + std::string(value) + "'");
    } else if (name == "pid-file") {
      if (value.empty())
        fail("--pid-file needs a path");
      else
        cl.pid_file = value;
    } else if (name == "restart-timeout") {
      if (!parse_duration(value, cl.restart_timeout))
        fail("--restart-timeout must be a time such as 500ms, 20s or 2m, not '" +
             std::string(value) + "'");
    } else if (name == "health") {
      if (value == "on" || value == "off")
        cl.health = value == "on";
      else
        fail("--health must be on or off, not '" + std::string(value) + "'");
    } else if (name == "log") {
      if (value == "off" || value == "common" || value == "json")
        cl.log = value;
      else
        fail("--log must be off, common or json, not '" + std::string(value) + "'");
    } else if (name == "proxy-protocol") {
      if (value == "on" || value == "off")
        cl.server.proxy_protocol = value == "on";
      else
        fail("--proxy-protocol must be on or off, not '" + std::string(value) + "'");
    } else if (name == "tls-cert") {
      cl.server.tls.certificates.push_back({.cert_file = std::string(value), .key_file = {}});
    } else if (name == "tls-key") {
      auto& certs = cl.server.tls.certificates;
      if (certs.empty() || !certs.back().key_file.empty())
        fail("--tls-key " + std::string(value) + " must follow its --tls-cert");
      else
        certs.back().key_file = value;
    } else if (name == "tls-min") {
      if (value == "1.2" || value == "1.3")
        cl.server.tls.min_version = value;
      else
        fail("--tls-min must be 1.2 or 1.3, not '" + std::string(value) + "'");
    } else if (name == "tls-ciphers") {
      cl.server.tls.ciphers = value;
    } else if (name == "tls-ciphersuites") {
      cl.server.tls.ciphersuites = value;
    } else if (name == "tls-client-ca") {
      cl.server.tls.client_ca = value;
    } else if (name == "tls-verify-client") {
      if (value == "optional" || value == "required")
        cl.server.tls.client_cert_required = value == "required";
      else
        fail("--tls-verify-client must be optional or required, not '" + std::string(value) + "'");
    } else if (name == "tls-handshake-timeout") {
      if (!parse_duration(value, cl.server.tls.handshake_timeout))
        fail("--tls-handshake-timeout must be a time such as 500ms, 20s or 2m, not '" +
             std::string(value) + "'");
    } else if (cl.extra.count(std::string(name))) {
      cl.extra[std::string(name)] = value;
    } else {
      fail("unknown option --" + std::string(name));
    }
  }
  if (cl.server.tls.client_cert_required && cl.server.tls.client_ca.empty())
    fail("--tls-verify-client required needs --tls-client-ca FILE");
  for (const TlsCertificate& c : cl.server.tls.certificates)
    if (c.key_file.empty()) fail("--tls-cert " + c.cert_file + " needs its --tls-key after it");
  return cl;
}

namespace {

// "127.0.0.1:8080", "[::1]:8080" or "unix:/run/app.sock": where a socket handed over listens.
std::string socket_name(int fd) {
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    return "fd " + std::to_string(fd);
  char text[INET6_ADDRSTRLEN] = {};
  if (a.ss_family == AF_INET) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&a);
    ::inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
    return std::string(text) + ":" + std::to_string(ntohs(v4->sin_port));
  }
  if (a.ss_family == AF_INET6) {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&a);
    ::inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
    return "[" + std::string(text) + "]:" + std::to_string(ntohs(v6->sin6_port));
  }
  if (a.ss_family == AF_UNIX)
    return "unix:" + std::string(reinterpret_cast<sockaddr_un*>(&a)->sun_path);
  return "fd " + std::to_string(fd);
}

App with_logger(App app, const std::string& mode) {
  if (mode == "off") return app;
  auto format = mode == "json" ? mw::LogFormat::json : mw::LogFormat::common;
  return mw::common_logger({.format = format, .fd = STDOUT_FILENO})(std::move(app));
}

} // namespace

int run(const Program& program, int argc, char** argv,
        const std::function<App(const CommandLine&)>& make_app) {
  CommandLine cl = parse_command_line(argc, argv, program.defaults, program.extra_flags);
  if (cl.help) {
    std::cout << usage(program);
    return 0;
  }
  if (!cl.error.empty()) {
    std::cerr << program.name << ": " << cl.error << "\n\n" << usage(program);
    return 2;
  }
  App app;
  auto draining = std::make_shared<std::atomic<bool>>(false);
  if (!cl.metrics_path.empty()) cl.metrics = std::make_shared<mw::Metrics>();
  try {
    app = with_logger(make_app(cl), cl.log);
    // Outside the log and each other: scrapes and health checks are neither logged nor
    // counted.
    if (cl.metrics) app = mw::metrics({.path = cl.metrics_path, .metrics = cl.metrics})(app);
    if (cl.health) app = mw::health({.draining = draining})(app);
  } catch (const std::exception& e) {
    std::cerr << program.name << ": " << e.what() << "\n";
    return 1;
  } catch (...) {
    std::cerr << program.name << ": the app could not be made (not a std::exception)\n";
    return 1;
  }

  // Signals go to this thread only: block them before the workers start (they inherit the
  // mask), then wait for one here.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Sockets already listening: from systemd's socket activation, or from the process before
  // this one at a restart (which also passed a pipe to say "ready" on). One protocol for both.
  const std::string exe = restart::executable_path();
  const std::vector<std::string> args(argv, argv + argc);
  const int ready_fd = restart::take_ready_fd();
  cl.server.listen.listen_fds = systemd::listen_fds();
  const bool inherited = !cl.server.listen.listen_fds.empty();
  Server server(std::move(app), cl.server);
  if (cl.metrics) cl.metrics->set_server_stats([&server] { return server.stats(); });
  const ListenConfig& l = cl.server.listen;
  std::string host = l.host.find(':') != std::string::npos ? "[" + l.host + "]" : l.host;
  // Where it listens: "127.0.0.1:8080", "unix:/run/app.sock", or "127.0.0.1:8080 and
  // unix:/run/app.sock"; `port`: the bound one.
  auto own_sockets = [&](std::uint16_t port) {
    std::string tcp = host + ":" + std::to_string(port), unix = "unix:" + l.unix_path;
    if (l.unix_path.empty()) return tcp;
    return l.tcp_too ? tcp + " and " + unix : unix;
  };
  if (std::error_code ec = server.start()) {
    std::cerr << program.name << ": cannot listen on "
              << (inherited ? std::string("the sockets handed over") : own_sockets(l.port))
              << " with the " << cl.server.backend << " backend: " << server.error_message()
              << "\n";
    return 1;
  }
  std::string where;
  if (inherited) {
    where = socket_name(l.listen_fds[0]);
    if (l.listen_fds.size() > 1)
      where += " and " + std::to_string(l.listen_fds.size() - 1) + " more socket" +
               (l.listen_fds.size() > 2 ? "s" : "");
    where += ready_fd >= 0 ? " (from pid " + std::to_string(::getppid()) + ")" : " (from systemd)";
  } else {
    where = own_sockets(server.port());
  }
  // Every handed-over socket has a worker of its own (ListenConfig::listen_fds); a unix socket
  // beside TCP has `threads` workers of its own.
  const int threads = !l.unix_path.empty() && l.tcp_too && !inherited
                          ? 2 * l.threads
                          : std::max(l.threads, static_cast<int>(l.listen_fds.size()));
  std::cout << program.name << " listening on " << (server.tls() ? "https://" : "http://") << where
            << " (" << server.backend_name() << ", " << threads
            << (threads == 1 ? " thread" : " threads")
            << (server.tls() ? "; " + server.tls()->describe() : std::string()) << ")" << std::endl;

  if (!cl.pid_file.empty())
    if (std::string error = restart::write_pid_file(cl.pid_file); !error.empty())
      std::cerr << program.name << ": --pid-file: " << error << std::endl;
  systemd::notify("READY=1\nMAINPID=" + std::to_string(::getpid()) + "\nSTATUS=listening on " +
                  where);
  // The process that started this one drains and exits once it reads this.
  restart::signal_ready(ready_fd);

  // The watchdog: WATCHDOG=1 at half the interval, only while every worker's loop answers.
  const auto watchdog = systemd::watchdog_interval();
  auto pet_watchdog = [&server, watchdog] {
    if (server.responsive(std::chrono::duration_cast<Millis>(watchdog / 4)))
      systemd::notify("WATCHDOG=1");
  };
  int sig = 0;
  pid_t successor = -1; // the process a restart handed the sockets to
  for (;;) {
    if (watchdog.count() > 0) {
      auto half = std::chrono::duration_cast<std::chrono::nanoseconds>(watchdog / 2);
      timespec ts{static_cast<time_t>(half.count() / 1'000'000'000),
                  static_cast<long>(half.count() % 1'000'000'000)};
      sig = sigtimedwait(&signals, nullptr, &ts);
      if (sig < 0) {
        pet_watchdog();
        continue;
      }
    } else {
      sigwait(&signals, &sig);
    }
    if (sig == SIGUSR2) {
      // A restart: the new process takes the same sockets (nothing in their queues is lost);
      // this one keeps serving until the new one listens, and goes on serving if it does not.
      std::cerr << program.name << " restarting on SIGUSR2: starting " << exe << std::endl;
      timespec now{};
      ::clock_gettime(CLOCK_MONOTONIC, &now);
      systemd::notify("RELOADING=1\nMONOTONIC_USEC=" +
                      std::to_string(now.tv_sec * 1'000'000LL + now.tv_nsec / 1000));
      restart::Outcome o = restart::start_new_process(
          exe, args, server.listen_sockets(), cl.restart_timeout,
          watchdog.count() > 0 ? std::function<void()>(pet_watchdog) : std::function<void()>(),
          watchdog.count() > 0 ? std::chrono::duration_cast<Millis>(watchdog / 2) : Millis(1000));
      if (o.error.empty()) {
        successor = o.pid;
        server.handed_over();
        // systemd follows the new process (accepted from us, the main pid, whatever
        // NotifyAccess says), and does not hear our STOPPING.
        systemd::notify("MAINPID=" + std::to_string(o.pid) + "\nREADY=1");
        if (program.before_drain) program.before_drain();
        break;
      }
      std::cerr << program.name << ": restart failed, this process (pid " << ::getpid()
                << ") goes on serving: the new process"
                << (o.pid > 0 ? " (pid " + std::to_string(o.pid) + ")" : std::string()) << " "
                << o.error << std::endl;
      systemd::notify("READY=1\nSTATUS=restart failed: " + o.error);
      continue;
    }
    if (sig != SIGHUP) break;
    // SIGHUP: new certificates for new handshakes; open connections are not touched.
    if (!server.tls()) continue;
    systemd::notify("RELOADING=1");
    std::string error = server.reload_tls();
    if (error.empty())
      std::cerr << program.name << " reloaded its TLS certificates" << std::endl;
    else
      std::cerr << program.name << ": TLS reload failed, the old certificates stay: " << error
                << std::endl;
    systemd::notify("READY=1");
  }
  if (successor < 0) systemd::notify("STOPPING=1");
  draining->store(true, std::memory_order_release); // /readyz answers 503 from now on
  WorkerStats before = server.stats();
  std::cerr << program.name << " stopping "
            << (successor > 0   ? "after handing over to pid " + std::to_string(successor)
                : sig == SIGINT ? std::string("on SIGINT")
                                : std::string("on SIGTERM"))
            << ": " << before.connections << " connections open, " << before.awaiting
            << " requests awaiting, " << before.bodies << " bodies and " << before.sockets
            << " sockets open" << std::endl;
  server.stop();
  mw::flush_logs(); // the request log's last lines, before the process ends
  if (!cl.pid_file.empty() && successor < 0) restart::remove_pid_file(cl.pid_file);
  WorkerStats after = server.stats();
  std::cerr << program.name << " stopped: " << after.requests
            << " requests served; left alive: " << after.exchanges << " exchanges, " << after.bodies
            << " bodies, " << after.sockets << " sockets" << std::endl;
  return 0;
}

int run(const Program& program, int argc, char** argv, App app) {
  return run(program, argc, argv, [&app](const CommandLine&) { return app; });
}

} // namespace lithe
