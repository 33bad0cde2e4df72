// WorkerBase: a worker's thread, Service, connection list and graceful stop (SPEC §10).
#include <lithe/detail/worker_base.hpp>
#include <lithe/log.hpp>

#include <unistd.h>

namespace lithe::detail {

WorkerBase::WorkerBase(Loop& loop, int listen_fd, ListenInfo info, const ListenConfig& config)
    : listen_fd_(listen_fd), info_(info), backlog_(config.backlog), loop_(loop),
      max_connections_(connections_per_worker(config)) {
  loop_.set_thread_pool(config.thread_pool);
}

WorkerBase::~WorkerBase() {
  if (listen_fd_ >= 0) ::close(listen_fd_); // never served (start failed), or not handed over
}

void WorkerBase::start(const ServiceFactory& factory) {
  thread_ = std::thread([this, &factory] { run(factory); });
}

void WorkerBase::post_stop(Millis deadline) {
  loop_.post([this, deadline] { begin_stop(deadline); });
}

void WorkerBase::join() {
  if (thread_.joinable()) thread_.join();
}

void WorkerBase::run(const ServiceFactory& factory) {
  enter();
  service_.make(factory, loop_, info_);
  serve();
  // Anything left (a deadline that never came): close it while the service still exists.
  close_listener();
  close_all(CloseReason::server_stopping);
  settle();
  service_.retire();
}

bool WorkerBase::full() {
  if (live_ < max_connections_) return false;
  at_limit_ = true;
  warn("a worker holds " + std::to_string(live_) +
       " connections, its limit (--max-connections): new ones wait in the backlog");
  return true;
}

void WorkerBase::adopt(WorkerConn& c, Transport& t) {
  open_.push_back(c);
  ++live_;
  c.handler = service_->accept(t); // after the stop began, it hears on_stop there
}

void WorkerBase::release(WorkerConn& c) noexcept {
  c.unlink();
  --live_;
  if (stopping_) {
    if (live_ == 0) end_loop();
    return;
  }
  if (at_limit_ && live_ < max_connections_) {
    at_limit_ = false;
    accept_again();
  }
}

void WorkerBase::warn(const std::string& message) {
  if (loop_.now() - last_warning_ <= std::chrono::seconds(10)) return;
  last_warning_ = loop_.now();
  log_error(message);
}

void WorkerBase::begin_stop(Millis deadline) {
  if (stopping_) return;
  stopping_ = true;
  close_listener();
  service_->stop();
  {
    // on_stop may close its connection, or others: those move to closing_ and are passed by.
    // The ones told wait on a list of their own (put back even if on_stop throws), so each
    // open connection hears on_stop exactly once.
    struct Told {
      IntrusiveList<WorkerConn>& open;
      IntrusiveList<WorkerConn> list;
      ~Told() { open.splice_back(list); }
    } told{open_, {}};
    while (WorkerConn* c = open_.pop_front()) {
      told.list.push_back(*c);
      c->handler->on_stop();
    }
  }
  if (live_ == 0) {
    end_loop();
    return;
  }
  loop_.add_timer(deadline, [this] { close_all(CloseReason::server_stopping); });
}

void WorkerBase::close_all(CloseReason why) noexcept {
  while (!open_.empty()) {
    WorkerConn& c = open_.front();
    closing(c); // the backend does too; here it also guarantees progress
    close_connection(c, why);
  }
}

} // namespace lithe::detail
