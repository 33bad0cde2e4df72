// ThreadPool: EventMachine's EM.defer for lithe (SPEC 5.8). Blocking or long work runs on a
// bounded set of threads with a bounded queue, owned by the Server and joined when it stops;
// Loop::defer and lithe::in_thread run their work here and come back to the loop after.
#pragma once

#include <lithe/function.hpp>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace lithe {

struct ThreadPoolOptions {
  /// Threads at most, started as work arrives (none until the first job).
  unsigned threads = 4;
  /// Jobs waiting for a thread at most; a job beyond it is refused (Loop::defer returns false).
  std::size_t max_queued = 1024;
};

class ThreadPool {
public:
  explicit ThreadPool(ThreadPoolOptions options = {});
  ~ThreadPool(); // stop()
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  /// Queues `job` from any thread. False, and the job destroyed, when the queue is full or
  /// the pool has stopped.
  bool submit(Task job);
  /// Stops taking jobs, destroys those still waiting (not run), and joins the threads after
  /// the jobs they are running. Idempotent.
  void stop();

  struct Stats {
    std::size_t threads = 0; // started
    std::size_t busy = 0;    // running a job
    std::size_t queued = 0;  // waiting for a thread
    std::size_t refused = 0; // submits refused since start (full or stopped)
  };
  Stats stats() const;
  const ThreadPoolOptions& options() const noexcept { return opts_; }

private:
  void run();

  ThreadPoolOptions opts_;
  mutable std::mutex mu_;
  std::condition_variable work_;
  std::deque<Task> queue_;
  std::vector<std::thread> threads_;
  std::size_t idle_ = 0, busy_ = 0, refused_ = 0;
  bool stopped_ = false;
};

} // namespace lithe
