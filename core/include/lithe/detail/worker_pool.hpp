// What every backend does the same way around its workers: one SO_REUSEPORT listener per
// worker thread on one port, start, graceful stop, join, and summed counters (SPEC §10).
// A backend supplies only its Worker (WorkerBase, worker_base.hpp, provides all but the
// constructor):
//   Worker(int listen_fd, ListenInfo, const ListenConfig&); void start(const ServiceFactory&);
//   void post_stop(Millis deadline);   // thread-safe: begin the graceful stop on its loop
//   void join(); WorkerStats stats() const;
#pragma once

#include <lithe/backend.hpp>
#include <lithe/detail/net.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fcntl.h>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

namespace lithe::detail {

inline WorkerStats& operator+=(WorkerStats& a, const WorkerStats& b) noexcept {
  a.connections += b.connections;
  a.requests += b.requests;
  a.exchanges += b.exchanges;
  a.awaiting += b.awaiting;
  a.bodies += b.bodies;
  a.sockets += b.sockets;
  return a;
}

/// A worker's Service, made and ended on the worker's thread, with counters readable from
/// any thread (the last ones are kept once the service is gone).
class ServiceSlot {
public:
  void make(const ServiceFactory& factory, Loop& loop, const ListenInfo& info) {
    std::lock_guard lock(mu_);
    service_ = factory(loop, info);
  }
  Service* operator->() const noexcept { return service_.get(); }
  /// Ends the service (after its loop has ended), keeping its last counters.
  void retire() {
    std::lock_guard lock(mu_);
    last_ = service_->stats();
    service_.reset();
  }
  WorkerStats stats() const {
    std::lock_guard lock(mu_);
    return service_ ? service_->stats() : last_;
  }

private:
  mutable std::mutex mu_;
  std::unique_ptr<Service> service_;
  WorkerStats last_;
};

template <class Worker> class WorkerPool final : public Backend {
public:
  explicit WorkerPool(std::string_view name) noexcept : name_(name) {}
  ~WorkerPool() override { stop(Millis(0)); }

  std::string_view name() const noexcept override { return name_; }

  std::error_code start(const ListenConfig& config, ServiceFactory factory) override {
    factory_ = std::move(factory);
    int threads = config.threads < 1 ? 1 : config.threads;
    std::uint16_t port = config.port;
    std::vector<int> fds;     // one per worker
    std::vector<int> sockets; // each socket once: what a restart hands over
    // `threads` workers share `fd` (a unix socket has no SO_REUSEPORT spreading: every worker
    // accepts from it, whoever is free first).
    auto share = [&](int fd, int workers) {
      fds.push_back(fd);
      sockets.push_back(fd);
      for (int i = 1; i < workers; ++i)
        fds.push_back(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
    };
    if (!config.listen_fds.empty()) {
      // Handed over (socket activation, a restart): systemd gives them blocking; the loops
      // need them not. A SO_REUSEPORT socket nobody accepts from keeps its queue to itself, and
      // closing it resets that queue: so each one gets a worker, whatever `threads` says, and
      // more threads than sockets share them (as a unix socket is shared).
      const auto& given = config.listen_fds;
      for (int fd : given) {
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
        ::fcntl(fd, F_SETFD, FD_CLOEXEC);
      }
      const int n = std::max(threads, static_cast<int>(given.size()));
      for (int i = 0; i < n; ++i)
        fds.push_back(
            i < static_cast<int>(given.size())
                ? given[static_cast<std::size_t>(i)]
                : ::fcntl(given[static_cast<std::size_t>(i) % given.size()], F_DUPFD_CLOEXEC, 0));
      sockets = given;
      port = 0;
      for (int fd : given) // the TCP port, when one of them has one
        if (port == 0) port = local_port(fd);
    } else {
      if (!config.unix_path.empty()) {
        std::error_code ec;
        int fd = listen_unix(config.unix_path, config.unix_mode, config.backlog, ec);
        if (fd < 0) return ec;
        share(fd, threads);
        unix_path_ = config.unix_path;
      }
      // TCP: a SO_REUSEPORT socket per worker, the first choosing the port when it is 0.
      const bool tcp = config.unix_path.empty() || config.tcp_too;
      if (!tcp) port = 0;
      for (int i = 0; tcp && i < threads; ++i) {
        std::error_code ec;
        int fd = listen_tcp(config.host, port, config.backlog, ec, i == 0);
        if (fd < 0) {
          for (int f : fds)
            ::close(f);
          if (!unix_path_.empty()) ::unlink(std::exchange(unix_path_, {}).c_str());
          return ec;
        }
        if (port == 0) port = local_port(fd); // the others join the same port
        share(fd, 1);
      }
    }
    port_ = port != 0 ? port : 80; // a unix socket alone: SERVER_PORT 80 without a Host port
    // What a restart hands over (listen_sockets()): our own descriptors of each socket, since
    // a worker's may be closed (stop) or owned by its loop library.
    for (int fd : sockets)
      sockets_.push_back(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
    for (int fd : fds) {
      // SERVER_PORT without a Host port: the worker's own socket's (80 on a unix socket).
      const std::uint16_t own = local_port(fd);
      workers_.push_back(
          std::make_unique<Worker>(fd, ListenInfo{own ? own : std::uint16_t(80), false}, config));
    }
    for (auto& w : workers_)
      w->start(factory_);
    started_ = true;
    return {};
  }

  std::uint16_t port() const noexcept override { return port_; }

  void stop(Millis deadline) override {
    if (!started_) return;
    if (!stopped_.exchange(true)) {
      {
        // Ours first, so that once the workers close theirs nothing here holds the sockets
        // open (new clients are refused, not left in a queue nobody reads).
        std::lock_guard lock(unlink_mu_);
        for (int fd : std::exchange(sockets_, {}))
          ::close(fd);
      }
      for (auto& w : workers_)
        w->post_stop(deadline);
    }
    wait();
    std::lock_guard lock(unlink_mu_);
    if (!unix_path_.empty() && !handed_over_) ::unlink(std::exchange(unix_path_, {}).c_str());
  }

  std::vector<int> listen_sockets() const override {
    std::lock_guard lock(unlink_mu_);
    return sockets_;
  }

  void handed_over() noexcept override { handed_over_ = true; }

  void wait() override {
    for (auto& w : workers_)
      w->join();
  }

  bool responsive(Millis within) const override {
    auto answered = std::make_shared<std::atomic<std::size_t>>(0);
    std::size_t asked = 0;
    for (const auto& w : workers_)
      if (w->post([answered] { answered->fetch_add(1); })) ++asked;
    auto deadline = std::chrono::steady_clock::now() + within;
    while (answered->load() < asked && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(Millis(1));
    return asked == workers_.size() && answered->load() == asked;
  }

  WorkerStats stats() const override {
    WorkerStats sum;
    for (const auto& w : workers_)
      sum += w->stats();
    return sum;
  }

private:
  std::string_view name_;
  ServiceFactory factory_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::uint16_t port_ = 0;
  std::string unix_path_;    // ours to remove at the end, unless handed over
  std::vector<int> sockets_; // listen_sockets(): closed when the stop begins
  mutable std::mutex unlink_mu_;
  std::atomic<bool> handed_over_{false};
  bool started_ = false;
  std::atomic<bool> stopped_{false};
};

} // namespace lithe::detail
