// HttpContext: the per-worker half of the engine: llhttp settings, pools of exchanges and
// buffers, the Date line, the timeout lists and their sweep, deferred flushes, and the
// Service face a backend sees. SPEC §10.
#include "http_connection.hpp"

#include <lithe/lint.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>

namespace lithe::http {

namespace {

constexpr int index(Timeout t) {
  return static_cast<int>(t);
}

} // namespace

HttpContext::HttpContext(Loop& loop, const ListenInfo& listen, App app, HttpOptions opts)
    : loop_(loop), app_(std::move(app)), tls_(listen.tls), opts_(std::move(opts)) {
  if (opts_.lint) app_ = lint(std::move(app_));
  port_text_ = std::to_string(listen.port);
  if (!opts_.server.empty()) server_line_ = "Server: " + opts_.server + "\r\n";

  auto ms = [](Millis d) {
    // Deadlines are 32-bit milliseconds compared as differences: up to 24 days each.
    return static_cast<std::uint32_t>(std::clamp<std::int64_t>(d.count(), 1, 1LL << 30));
  };
  durations_[index(Timeout::head)] = ms(opts_.header_timeout);
  durations_[index(Timeout::body)] = ms(opts_.body_timeout);
  durations_[index(Timeout::idle)] = ms(opts_.idle_timeout);
  durations_[index(Timeout::linger)] = 2000;
  durations_[index(Timeout::send)] = ms(opts_.send_timeout);
  // At a stop, an idle keep-alive connection waits this long for a request already on its
  // way (answered with Connection: close) before it is closed: closing it at once would race
  // a client that sends just then (HttpConnection::on_stop).
  durations_[index(Timeout::drain)] = 1000;
  // Sweep often enough for the shortest timeout to fire within a quarter of itself (the drain
  // wait, which only a stop arms, is left out: it may fire up to a sweep late).
  std::uint32_t shortest = *std::min_element(durations_ + 1, durations_ + index(Timeout::drain));
  auto period = Millis(std::clamp<std::uint32_t>(shortest / 4, 10, 1000));
  sweep_timer_ = loop_.add_periodic_timer(period, [this] { sweep(); });
  date_line();
}

HttpContext::~HttpContext() {
  loop_.cancel_timer(sweep_timer_);
  // Connections are gone by now (the backend closed them before destroying the service).
}

TransportHandler* HttpContext::accept(Transport& transport) {
  auto conn = std::make_unique<HttpConnection>(*this, transport);
  HttpConnection* c = conn.release(); // frees itself in on_closed
  add_connection(c);
  if (stopping_) c->on_stop();
  return c;
}

void HttpContext::add_connection(HttpConnection* c) noexcept {
  ++connection_count_;
  live_connections_.fetch_add(1, std::memory_order_relaxed);
  arm(c->read_timer(), Timeout::head); // a silent new connection is a slow request head
}

void HttpContext::remove_connection(HttpConnection* c) noexcept {
  --connection_count_;
  live_connections_.fetch_sub(1, std::memory_order_relaxed);
  disarm(c->read_timer());
  unschedule_flush(c);
}

void HttpContext::stop() {
  stopping_ = true; // the backend now calls on_stop() on each connection
}

WorkerStats HttpContext::stats() const noexcept {
  WorkerStats s;
  s.connections = live_connections_.load(std::memory_order_relaxed);
  s.requests = requests_.load(std::memory_order_relaxed);
  s.exchanges = counters_.exchanges.load(std::memory_order_relaxed);
  s.awaiting = counters_.awaiting.load(std::memory_order_relaxed);
  s.bodies = counters_.bodies.load(std::memory_order_relaxed);
  s.sockets = counters_.sockets.load(std::memory_order_relaxed);
  return s;
}

std::string_view HttpContext::date_line() noexcept {
  std::time_t now = std::time(nullptr);
  if (now != date_sec_) {
    date_sec_ = now;
    std::tm tm{};
    gmtime_r(&now, &tm);
    date_len_ = std::strftime(date_, sizeof date_, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
  }
  return {date_, date_len_};
}

HttpExchange* HttpContext::acquire_exchange() {
  std::unique_ptr<HttpExchange> ex;
  if (free_exchanges_.empty()) {
    ex = std::make_unique<HttpExchange>(*this);
  } else {
    ex = std::move(free_exchanges_.back());
    free_exchanges_.pop_back();
  }
  ex->add_ref();
  return ex.release();
}

void HttpContext::release_exchange(HttpExchange* raw) noexcept {
  std::unique_ptr<HttpExchange> ex(raw);
  ex->prepare();
  if (free_exchanges_.size() < 256) free_exchanges_.push_back(std::move(ex));
}

void HttpExchange::recycle() noexcept {
  if (home().in_loop_thread()) {
    ctx_->release_exchange(this);
    return;
  }
  // Dropped on another thread: return to the pool on the loop, or, if the loop has ended
  // (its context may be gone too), free it here: the task's destructor runs if the task
  // never does. Nothing here touches the context off its loop.
  struct Owner {
    HttpExchange* ex;
    Owner(HttpExchange* e) : ex(e) {}
    Owner(Owner&& o) noexcept : ex(std::exchange(o.ex, nullptr)) {}
    ~Owner() { std::unique_ptr<HttpExchange> doomed(ex); }
  };
  LoopHandle home = this->home();
  home.post([o = Owner(this)]() mutable {
    HttpExchange* ex = std::exchange(o.ex, nullptr);
    ex->ctx_->release_exchange(ex);
  });
}

OutQueue* HttpContext::acquire_queue() {
  if (free_queues_.empty()) return std::make_unique<OutQueue>(buffers_).release();
  OutQueue* q = free_queues_.back().release();
  free_queues_.pop_back();
  return q;
}

void HttpContext::release_queue(OutQueue* raw) noexcept {
  std::unique_ptr<OutQueue> q(raw);
  disarm(q->send_timer);
  q->send_timer.conn = nullptr;
  q->clear();
  if (free_queues_.size() < 256) free_queues_.push_back(std::move(q));
}

std::string* HttpContext::acquire_input() {
  if (free_inputs_.empty()) return std::make_unique<std::string>().release();
  std::string* s = free_inputs_.back().release();
  free_inputs_.pop_back();
  return s;
}

void HttpContext::release_input(std::string* raw) noexcept {
  std::unique_ptr<std::string> s(raw);
  s->clear();
  if (s->capacity() <= 64 * 1024 && free_inputs_.size() < 256) free_inputs_.push_back(std::move(s));
}

std::uint32_t HttpContext::now_ms() const noexcept {
  return static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(loop_.now().time_since_epoch())
          .count());
}

void HttpContext::arm(ReadTimeout& node, Timeout which) {
  link(node, which);
}

void HttpContext::arm(SendTimeout& node) {
  link(node, Timeout::send);
}

void HttpContext::link(TimeoutNode& node, Timeout which) {
  // Each list has one duration, so appending keeps it sorted by deadline.
  node.deadline_ms = now_ms() + durations_[index(which)];
  node.list = static_cast<std::uint8_t>(which);
  lists_[index(which)].push_back(node); // off any list it was on first
}

void HttpContext::disarm(TimeoutNode& node) noexcept {
  node.unlink();
  node.list = 0;
}

void HttpContext::sweep() {
  date_line();
  std::uint32_t now = now_ms();
  for (int i = 1; i < index(Timeout::count); ++i) {
    auto& list = lists_[i];
    const auto which = static_cast<Timeout>(i);
    while (!list.empty() && static_cast<std::int32_t>(list.front().deadline_ms - now) <= 0) {
      TimeoutNode* node = list.pop_front();
      node->list = 0;
      HttpConnection* c = which == Timeout::send
                              ? static_cast<SendTimeout*>(node)->conn
                              : static_cast<HttpConnection*>(static_cast<ReadTimeout*>(node));
      c->on_timeout(which);
    }
  }
}

void HttpContext::schedule_flush(HttpConnection* c) {
  if (c->flush_scheduled) return;
  c->flush_scheduled = true;
  dirty_.push_back(c);
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  loop_.next_tick([this] {
    flush_scheduled_ = false;
    // Flushing may queue more (drain handlers write): loop over a stable copy.
    std::vector<HttpConnection*> batch;
    batch.swap(dirty_);
    for (HttpConnection* conn : batch) {
      if (!conn) continue;
      conn->flush_scheduled = false;
      conn->flush();
    }
    if (dirty_.capacity() < batch.capacity()) {
      batch.clear();
      dirty_.swap(batch);
    }
  });
}

void HttpContext::unschedule_flush(HttpConnection* c) noexcept {
  if (!c->flush_scheduled) return;
  c->flush_scheduled = false;
  for (HttpConnection*& p : dirty_)
    if (p == c) p = nullptr;
}

} // namespace lithe::http

namespace lithe {

ServiceFactory http_service(App app, HttpOptions options) {
  return [app = std::move(app), options = std::move(options)](
             Loop& loop, const ListenInfo& listen) -> std::unique_ptr<Service> {
    return std::make_unique<http::HttpContext>(loop, listen, app, options);
  };
}

} // namespace lithe
