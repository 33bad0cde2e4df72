// ThreadPool: a locked queue and threads started on demand up to the limit.
#include <lithe/log.hpp>
#include <lithe/thread_pool.hpp>

#include <exception>
#include <string>

namespace lithe {

ThreadPool::ThreadPool(ThreadPoolOptions options) : opts_(options) {
  if (opts_.threads == 0) opts_.threads = 1;
}

ThreadPool::~ThreadPool() {
  stop();
}

bool ThreadPool::submit(Task job) {
  std::unique_lock lock(mu_);
  if (stopped_ || queue_.size() >= opts_.max_queued) {
    ++refused_;
    lock.unlock();
    job.reset(); // its captures let go outside the lock
    return false;
  }
  queue_.push_back(std::move(job));
  if (idle_ == 0 && threads_.size() < opts_.threads) {
    threads_.emplace_back([this] { run(); });
  } else {
    lock.unlock();
    work_.notify_one();
  }
  return true;
}

void ThreadPool::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    ++idle_;
    work_.wait(lock, [this] { return stopped_ || !queue_.empty(); });
    --idle_;
    if (stopped_) return;
    Task job = std::move(queue_.front());
    queue_.pop_front();
    ++busy_;
    lock.unlock();
    try {
      job();
    } catch (const std::exception& e) {
      log_error(std::string("a thread pool job threw: ") + e.what());
    } catch (...) {
      log_error("a thread pool job threw (not a std::exception)");
    }
    job.reset(); // captures go before the next job, outside the lock
    lock.lock();
    --busy_;
  }
}

void ThreadPool::stop() {
  std::deque<Task> dropped;
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
    dropped.swap(queue_);
    threads.swap(threads_);
  }
  work_.notify_all();
  dropped.clear(); // destroyed, not run: a job's `done` half never reaches its loop
  for (std::thread& t : threads)
    if (t.get_id() == std::this_thread::get_id())
      t.detach(); // stop() from one of its own jobs: that thread ends when the job returns
    else
      t.join();
}

ThreadPool::Stats ThreadPool::stats() const {
  std::lock_guard lock(mu_);
  return {threads_.size(), busy_, queue_.size(), refused_};
}

} // namespace lithe
