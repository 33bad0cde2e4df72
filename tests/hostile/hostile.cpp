// The hostile suite's tools: target processes, raw connections, probes, reports.
#include "hostile.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spawn.h>
#include <sstream>
#include <stdexcept>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace lithe::hostile {

namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

long ticks_per_second() {
  static long t = ::sysconf(_SC_CLK_TCK);
  return t;
}

} // namespace

Target::Target(std::string app, std::string backend, std::vector<std::string> flags, int max_files)
    : backend_(std::move(backend)) {
  static int serial = 0;
  std::string base =
      "/tmp/lithe-hostile-" + std::to_string(::getpid()) + "-" + std::to_string(serial++);
  out_path_ = base + ".out";
  err_path_ = base + ".err";
  std::vector<std::string> argv;
  if (max_files > 0) // util-linux's prlimit sets the limit, then execs the server (same pid)
    argv = {"prlimit", "--nofile=" + std::to_string(max_files) + ":" + std::to_string(max_files),
            "--"};
  argv.push_back(std::string(LITHE_APP_DIR) + "/lithe-" + app);
  for (std::string a : {"--backend", backend_.c_str(), "--port", "0"})
    argv.push_back(a);
  for (std::string& f : flags)
    argv.push_back(std::move(f));
  std::vector<char*> args;
  for (std::string& a : argv)
    args.push_back(a.data());
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e)
    if (std::string_view(*e).rfind("ASAN_OPTIONS=", 0) != 0) env.emplace_back(*e);
#ifdef LITHE_SANITIZED
  // ASan keeps freed memory in a quarantine (256 MiB by default) that a busy server fills:
  // a small one keeps RSS about the server rather than about the sanitizer.
  const char* asan = std::getenv("ASAN_OPTIONS");
  env.push_back(std::string("ASAN_OPTIONS=") + (asan ? asan : "") + ":quarantine_size_mb=16");
#endif
  std::vector<char*> envp;
  for (std::string& e : env)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  int rc = posix_spawnp(&pid_, args[0], &fa, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0]);
  // "lithe-NAME listening on http://127.0.0.1:PORT (...)", or https:// with --tls-cert
  auto until = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < until) {
    std::string out = slurp(out_path_);
    constexpr std::string_view host = "://127.0.0.1:";
    if (auto at = out.find(host, out.find("listening on http")); at != std::string::npos) {
      port_ = static_cast<std::uint16_t>(std::atoi(out.c_str() + at + host.size()));
      if (port_ != 0) return;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error(argv[0] + " exited at start: " + slurp(err_path_));
    }
    std::this_thread::sleep_for(10ms); // polling a file for the start line, bounded
  }
  stop();
  throw std::runtime_error(argv[0] + " did not start listening within 10 s");
}

Target::~Target() {
  stop();
  ::unlink(out_path_.c_str());
  ::unlink(err_path_.c_str());
}

long Target::rss_kib() const {
  std::ifstream f("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return 0;
}

double Target::cpu_seconds() const {
  std::string stat = slurp("/proc/" + std::to_string(pid_) + "/stat");
  // Fields after the command (which may hold spaces) start after the last ')'.
  std::istringstream in(stat.substr(stat.rfind(')') + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::atol(field.c_str());
    if (i == 15) stime = std::atol(field.c_str());
  }
  return static_cast<double>(utime + stime) / static_cast<double>(ticks_per_second());
}

int Target::stop() {
  if (pid_ <= 0) return exit_code_;
  ::kill(pid_, SIGTERM);
  auto until = std::chrono::steady_clock::now() + 15s;
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > until) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
      return exit_code_ = -1;
    }
    std::this_thread::sleep_for(10ms); // waiting for the graceful stop, bounded
  }
  pid_ = -1;
  return exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string Target::log() const {
  return slurp(err_path_);
}

double cpu_share(const Target& t, std::chrono::milliseconds window) {
  double before = t.cpu_seconds();
  auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(window); // the measuring window itself
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return (t.cpu_seconds() - before) / secs;
}

std::optional<std::chrono::microseconds> probe(std::uint16_t port, std::string_view path,
                                               std::chrono::milliseconds deadline) {
  auto start = std::chrono::steady_clock::now();
  test::RawClient c(port);
  if (!c.connected() || !c.send(test::get(path))) return std::nullopt;
  auto r = c.read_response(deadline);
  if (!r || r->status < 200 || r->status >= 300) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                               start);
}

std::vector<int> open_connections(std::uint16_t port, std::size_t n) {
  std::vector<int> fds;
  fds.reserve(n);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (std::size_t i = 0; i < n; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) break;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS) {
      ::close(fd);
      break;
    }
    fds.push_back(fd);
  }
  return fds;
}

void close_all(std::vector<int>& fds) {
  for (int fd : fds)
    ::close(fd);
  fds.clear();
}

std::size_t send_each(const std::vector<int>& fds, std::string_view bytes) {
  std::size_t total = 0;
  for (int fd : fds) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) total += static_cast<std::size_t>(n);
  }
  return total;
}

long Attack::allowed_kib() const {
#ifdef LITHE_SANITIZED
  // ASan's redzones, shadow and quarantine multiply what a heap byte costs.
  const long factor = 4, slack = 64 * 1024;
#else
  const long factor = 1, slack = 24 * 1024;
#endif
  return static_cast<long>(connections * budget / 1024) * factor + slack;
}

void Attack::report() const {
  std::vector<long> us;
  for (auto p : probes)
    us.push_back(static_cast<long>(p.count()));
  std::sort(us.begin(), us.end());
  auto pct = [&](double q) {
    return us.empty() ? 0L : us[std::min(us.size() - 1, static_cast<std::size_t>(q * us.size()))];
  };
  char line[512];
  std::snprintf(line, sizeof line,
                "hostile %-28s %-5s conns=%zu rss_growth_kib=%ld per_conn_b=%ld budget_b=%zu "
                "cpu_stalled=%.3f probes=%zu probe_p50_us=%ld probe_max_us=%ld\n",
                name.c_str(), backend.c_str(), connections, rss_growth_kib(),
                connections ? rss_growth_kib() * 1024 / static_cast<long>(connections) : 0, budget,
                cpu_stalled, us.size(), pct(0.5), us.empty() ? 0L : us.back());
  std::cout << line << std::flush;
  if (const char* path = std::getenv("LITHE_HOSTILE_REPORT"))
    std::ofstream(path, std::ios::app) << line;
}

void probe_during(Attack& a, const Target& t, int n, std::string_view path) {
  for (int i = 0; i < n; ++i) {
    auto p = probe(t.port(), path);
    INFO(a.name << ": a normal client was not answered");
    REQUIRE(p);
    a.probes.push_back(*p);
  }
}

void finish(Attack& a, Target& t) {
  a.cpu_stalled = cpu_share(t, 1000ms);
  a.report();
  CHECK(a.rss_growth_kib() <= a.allowed_kib());
  CHECK(a.cpu_stalled < 0.3); // no spinning while the attack holds still
}

TempDir::TempDir() {
  char dir[] = "/tmp/lithe-hostile-XXXXXX";
  if (!::mkdtemp(dir)) throw std::runtime_error("mkdtemp failed");
  path_ = dir;
}

TempDir::~TempDir() {
  std::error_code ec; // what the test put there too (certificates, uploads): all of it goes
  std::filesystem::remove_all(path_, ec);
}

void TempDir::sparse_file(const std::string& name, std::uint64_t size) {
  std::string file = path_ + "/" + name;
  int fd = ::open(file.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(size)) != 0)
    throw std::runtime_error("cannot make " + file);
  ::close(fd);
}

void TempDir::text_file(const std::string& name, std::string_view text) {
  std::string file = path_ + "/" + name;
  std::ofstream(file) << text;
}

void raise_fd_limit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &r);
  }
}

std::string read_head(int fd, std::chrono::milliseconds within) {
  std::string got;
  char buf[512];
  for (auto until = std::chrono::steady_clock::now() + within;
       got.find("\r\n\r\n") == std::string::npos && std::chrono::steady_clock::now() < until;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0)
      got.append(buf, static_cast<std::size_t>(n));
    else if (n == 0)
      break;
    else
      std::this_thread::sleep_for(10ms); // waiting for the server's timer, bounded
  }
  return got;
}

} // namespace lithe::hostile
