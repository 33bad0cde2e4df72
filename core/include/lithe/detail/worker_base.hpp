// The half of a backend's worker that is not I/O, kept once for every backend (SPEC §10;
// docs/backends.md): its thread and Service, the one list of its connections, the connection
// limit, and the graceful stop (stop accepting, on_stop to each connection, end the loop when
// none is left, close the rest at the deadline). A backend derives its Worker from it and
// keeps only sockets and its loop; WorkerPool (worker_pool.hpp) runs the Workers.
#pragma once

#include <lithe/backend.hpp>
#include <lithe/close.hpp>
#include <lithe/detail/intrusive_list.hpp>
#include <lithe/detail/worker_pool.hpp>
#include <lithe/loop.hpp>
#include <lithe/transport.hpp>

#include <chrono>
#include <cstddef>
#include <string>
#include <thread>

namespace lithe::detail {

/// What a worker keeps of each connection: its link on the worker's lists and the engine's
/// handler (24 bytes). A backend's connection derives from it.
struct WorkerConn : ListHook<> {
  TransportHandler* handler = nullptr;
};

/// The loop a Worker owns, as a base listed before WorkerBase, so that it is made before and
/// ended after the WorkerBase that refers to it.
template <class L> struct OwnLoop { L loop; };

class WorkerBase {
public:
  WorkerBase(const WorkerBase&) = delete;
  WorkerBase& operator=(const WorkerBase&) = delete;

  // What WorkerPool asks of a Worker.
  /// Starts the worker's thread: the Service is made there, then serve() runs.
  void start(const ServiceFactory& factory);
  /// Begins the graceful stop on the worker's loop (any thread).
  void post_stop(Millis deadline);
  /// Runs fn on the worker's loop (any thread); false if the loop has ended.
  bool post(Task fn) { return loop_.post(std::move(fn)); }
  void join();
  WorkerStats stats() const { return service_.stats(); }

protected:
  /// `loop` is the Worker's own (OwnLoop); `listen_fd` is its listening socket, owned from
  /// now on (closed here unless the backend took it: set listen_fd_ to -1 then).
  WorkerBase(Loop& loop, int listen_fd, ListenInfo info, const ListenConfig& config);
  virtual ~WorkerBase();

  // The backend's part. Called at start, stop and the end, and at the connection limit;
  // never per read, write or timer.
  /// On the worker's thread first: the loop (and the backend's thread state) is this thread's.
  virtual void enter() noexcept = 0;
  /// With the Service made: listen, and run the loop until end_loop().
  virtual void serve() = 0;
  /// Accepts nothing more, for good (closes the listening socket). Harmless twice.
  virtual void close_listener() noexcept = 0;
  /// Closes `c`, an open connection, with `why`: the backend calls closing(c) at once and
  /// release(c) once the handler's on_closed has run.
  virtual void close_connection(WorkerConn& c, CloseReason why) noexcept = 0;
  /// Makes serve()'s loop return.
  virtual void end_loop() noexcept = 0;
  /// After serve() returned and every connection was closed: run until each is released,
  /// then end the loop's life (its shut_down), while the Service still exists.
  virtual void settle() = 0;
  /// Below the connection limit again after full() said so: accept again.
  virtual void accept_again() noexcept = 0;

  // For the backend's I/O code.
  /// True at the connection limit (then accept nothing: the kernel's backlog holds new
  /// connections, and accept_again() follows when one of ours is released). Warns.
  bool full();
  bool at_limit() const noexcept { return at_limit_; }
  /// A new connection: on the open list, counted, and handed to the Service, whose handler
  /// it keeps in c.handler. `t` is the connection's Transport (the same object as `c`). After
  /// begin_stop the Service tells it on_stop at once.
  void adopt(WorkerConn& c, Transport& t);
  /// `c` was closed: off the open list, so on_stop and the deadline pass it by, until the
  /// backend releases it.
  void closing(WorkerConn& c) noexcept { closing_.push_back(c); }
  /// The first connection closed and not yet released, or nullptr.
  WorkerConn* first_closing() noexcept { return closing_.empty() ? nullptr : &closing_.front(); }
  /// `c` is done (its handler's on_closed ran): the backend frees it right after. Ends the loop
  /// when stopping and none is left; accepts again below the limit.
  void release(WorkerConn& c) noexcept;
  /// Logs at most one warning per 10 s: an attack must not become a flood of log lines.
  void warn(const std::string& message);

  bool stopping() const noexcept { return stopping_; }
  /// Connections accepted and not yet released, open or closing: after the stop, the loop
  /// ends when this reaches 0 (it is Service::connections() plus those whose on_closed is
  /// still to come, so none of the backend's memory is in use past the loop).
  std::size_t live() const noexcept { return live_; }

  int listen_fd_;
  const ListenInfo info_;
  const int backlog_; // ListenConfig::backlog, for backends that call listen themselves

private:
  void run(const ServiceFactory& factory);
  void begin_stop(Millis deadline);
  void close_all(CloseReason why) noexcept;

  Loop& loop_;
  const std::size_t max_connections_;
  ServiceSlot service_;
  std::thread thread_;
  IntrusiveList<WorkerConn> open_;    // accepted, not closed
  IntrusiveList<WorkerConn> closing_; // closed, not yet released
  std::size_t live_ = 0;
  std::chrono::steady_clock::time_point last_warning_{};
  bool stopping_ = false;
  bool at_limit_ = false; // full() said so: accept_again() when below
};

} // namespace lithe::detail
