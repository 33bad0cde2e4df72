// A backend: worker threads, each with an event loop, a listener and a Service (SPEC §10).
// Backends register here by name, so apps choose one with --backend at run time.
#pragma once

#include <lithe/transport.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace lithe {

class ThreadPool;

struct ListenConfig {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080; // 0: an ephemeral port, read back with Backend::port()
  /// Listen on this unix socket instead of host:port (the workers share it); its file gets
  /// `unix_mode` and is removed at stop. SERVER_PORT is then the Host header's port, else 80.
  std::string unix_path;
  unsigned unix_mode = 0660;
  /// With unix_path: listen on host:port too, with `threads` workers of its own beside the
  /// socket's (lithe::run sets it when --host or --port is given beside --unix).
  bool tcp_too = false;
  /// Sockets already listening, handed over by systemd's socket activation or by the process
  /// before this one at a restart (SD_LISTEN_FDS, docs/deploy.md): host, port and unix_path
  /// are not used. Every socket gets a worker accepting from it, so the workers are at least
  /// as many as the sockets (one left unaccepted would lose its queue); more threads than
  /// sockets share them. The backend owns them from start().
  std::vector<int> listen_fds;
  int threads = 1;
  int backlog = 4096;
  /// Open connections at most per worker; at the limit a worker stops accepting (the kernel's
  /// backlog holds the rest) until one closes. 0: the process's file descriptor limit
  /// (RLIMIT_NOFILE) less 64 kept for files and logs, shared among the workers.
  std::size_t max_connections = 0;
  /// Loop::defer's pool on every worker's loop (the Server's; not owned). nullptr: none.
  ThreadPool* thread_pool = nullptr;
};

/// max_connections as a worker applies it: the configured value, or its share of the file
/// descriptor limit.
std::size_t connections_per_worker(const ListenConfig& config);

class Backend {
public:
  virtual ~Backend() = default;
  virtual std::string_view name() const noexcept = 0;
  /// Binds one SO_REUSEPORT listener per worker and starts the workers, each running a
  /// Service made by `factory` on its own thread. Returns what failed, if anything.
  virtual std::error_code start(const ListenConfig& config, ServiceFactory factory) = 0;
  /// The bound port (after start).
  virtual std::uint16_t port() const noexcept = 0;
  /// Graceful stop: stop accepting, stop() every Service, wait for their connections to
  /// finish up to `deadline`, then close the rest. Returns when every worker has ended.
  virtual void stop(std::chrono::milliseconds deadline) = 0;
  /// Blocks until the workers end (after stop(), from another thread or a signal handler).
  virtual void wait() = 0;
  /// Counters summed over the workers.
  virtual WorkerStats stats() const = 0;
  /// True when every worker's loop ran a task posted to it within `within` (a watchdog's
  /// question: a loop stuck in a callback does not answer).
  virtual bool responsive(std::chrono::milliseconds within) const = 0;
  /// The distinct listening sockets (one per SO_REUSEPORT worker, or the one they share),
  /// close-on-exec, owned by the backend until stop() begins: what a restart hands over.
  virtual std::vector<int> listen_sockets() const { return {}; }
  /// The listening sockets now serve a new process too (a restart handed them over): at stop
  /// this process closes its descriptors but leaves a unix socket's file in place.
  virtual void handed_over() noexcept {}
};

struct BackendInfo {
  std::string name;
  std::function<std::unique_ptr<Backend>()> make;
};

/// The backends linked into this program ("epoll", "uv"), in registration order.
std::vector<BackendInfo>& backends();
/// Makes the backend of that name, or nullptr.
std::unique_ptr<Backend> make_backend(std::string_view name);

} // namespace lithe
