// The hostile-client suite's tools: a lithe app in a process of its own (so its memory and
// CPU are its own to measure), many raw connections at once, a normal client's probe, and the
// report line each attack prints (docs/security.md collects them).
#pragma once

#include "support/net_client.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <thread>
#include <vector>

namespace lithe::hostile {

using namespace std::chrono_literals;

/// A lithe app (build/apps/lithe-NAME) started with `--backend B --port 0` and `flags`; its
/// output goes to files (a pipe nobody reads would block it). Stopped with SIGTERM.
class Target {
public:
  Target(std::string app, std::string backend, std::vector<std::string> flags = {},
         int max_files = 0 /* RLIMIT_NOFILE for the server; 0: inherited */);
  ~Target();
  Target(const Target&) = delete;
  Target& operator=(const Target&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  pid_t pid() const noexcept { return pid_; }
  /// Resident memory now (VmRSS), in KiB.
  long rss_kib() const;
  /// CPU time used so far (user + system), in seconds.
  double cpu_seconds() const;
  /// Graceful stop (SIGTERM, bounded wait, then SIGKILL): the exit code (-1 if killed).
  int stop();
  /// What it wrote to stderr so far (errors, the stop lines).
  std::string log() const;
  const std::string& backend() const noexcept { return backend_; }

private:
  std::string backend_;
  std::string out_path_, err_path_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  int exit_code_ = -2;
};

/// The share of one core the target used over `window` (0.0 .. threads).
double cpu_share(const Target& t, std::chrono::milliseconds window = 1000ms);

/// A normal client: a fresh connection, GET `path`, the time to a whole 2xx answer, or nullopt.
std::optional<std::chrono::microseconds> probe(std::uint16_t port, std::string_view path = "/",
                                               std::chrono::milliseconds deadline = 3s);

/// `n` TCP connections opened without blocking (non-blocking connect; those the server's
/// backlog cannot take yet stay connecting). Closed by close_all.
std::vector<int> open_connections(std::uint16_t port, std::size_t n);
void close_all(std::vector<int>& fds);
/// Sends `bytes` on each fd without blocking (what the socket does not take is dropped);
/// returns the bytes sent in all.
std::size_t send_each(const std::vector<int>& fds, std::string_view bytes);

/// What the server sent on `fd` up to the end of a response head, or what came within `within`
/// (a timeout's 408, say), without blocking past it.
std::string read_head(int fd, std::chrono::milliseconds within);

/// What an attack did to the server, printed as one report line (and appended to the file
/// named by $LITHE_HOSTILE_REPORT, for scripts/hostile-report).
struct Attack {
  std::string name;
  std::string backend;
  std::size_t connections = 0;
  long rss_before_kib = 0, rss_peak_kib = 0;
  double cpu_stalled = 0;                        // cores used while the attack holds still
  std::vector<std::chrono::microseconds> probes; // normal clients' latency meanwhile
  std::size_t budget = 1 << 20;                  // per connection
  long rss_growth_kib() const { return rss_peak_kib - rss_before_kib; }
  /// The bound every attack must stay within: its connections' budgets, plus the allocator's
  /// and (under sanitizers) the instrumentation's slack.
  long allowed_kib() const;
  void report() const;
};

/// Normal clients that must all be answered while the attack goes on (their latencies are
/// kept in `a.probes`).
void probe_during(Attack& a, const Target& t, int n = 5, std::string_view path = "/");
/// The checks every attack ends with: the CPU while it holds still, the report line, memory
/// within the budget of its connections, no spinning.
void finish(Attack& a, Target& t);

/// A scratch folder for a server's files, removed with its contents.
class TempDir {
public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const noexcept { return path_; }
  /// A file of `size` bytes (sparse: it reads as zeros and costs no disk).
  void sparse_file(const std::string& name, std::uint64_t size);
  void text_file(const std::string& name, std::string_view text);

private:
  std::string path_;
};

/// Raises this process's file descriptor limit to its hard limit (attacks open thousands).
void raise_fd_limit();

/// Samples the target's RSS every 20 ms until `done` returns true or `within` passes; the peak.
template <class F> long peak_rss(const Target& t, F done, std::chrono::milliseconds within) {
  long peak = t.rss_kib();
  auto until = std::chrono::steady_clock::now() + within;
  while (!done() && std::chrono::steady_clock::now() < until) {
    peak = std::max(peak, t.rss_kib());
    std::this_thread::sleep_for(20ms); // a sampling interval, not synchronisation
  }
  return std::max(peak, t.rss_kib());
}

} // namespace lithe::hostile
