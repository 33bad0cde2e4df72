// The epoll backend: N worker threads, each with its own EpollLoop, its own SO_REUSEPORT
// listener and its own Service. Sockets are non-blocking, registered edge-triggered once;
// reads go into one buffer per loop; writes are sendmsg (writev without SIGPIPE) and
// sendfile. It knows nothing of HTTP: the Service (the engine) gets bytes and gives bytes.
#include "epoll_loop.hpp"

#include <lithe/backend.hpp>
#include <lithe/backends/epoll.hpp>
#include <lithe/detail/net.hpp>
#include <lithe/detail/worker_base.hpp>
#include <lithe/detail/worker_pool.hpp>
#include <lithe/log.hpp>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace lithe::backend {

namespace {

class Worker;

constexpr std::uint32_t conn_events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;

// The worker whose loop runs on this thread. A connection is only ever touched on its
// worker's thread (transport.hpp), so it finds its worker here instead of holding a pointer.
thread_local Worker* this_worker = nullptr;

// One connection. Kept small, since every idle connection holds one (docs/backends.md):
// what a background write needs lives in a WriteState made on the first write the socket
// could not take at once, the peer is kept as its 16-byte IP, the worker is this_worker.
// The worker's list link and the handler are its WorkerConn base.
class EpollConn final : public Transport, public Watcher, public detail::WorkerConn {
public:
  EpollConn(int fd, const detail::PeerAddress& peer) noexcept
      : peer_(detail::PeerIp::of(peer)), fd_(fd) {}

  // Transport
  Loop& loop() noexcept override;
  std::size_t try_write(const iovec* iov, int iovcnt, std::error_code& ec) noexcept override;
  void write(const iovec* iov, int iovcnt) noexcept override;
  bool can_sendfile() const noexcept override { return true; }
  std::size_t try_sendfile(int fd, std::uint64_t offset, std::size_t len,
                           std::error_code& ec) noexcept override;
  void sendfile(int fd, std::uint64_t offset, std::size_t len) noexcept override;
  void pause_reading() noexcept override { paused_ = true; }
  void resume_reading() noexcept override;
  void shutdown_write() noexcept override {
    if (!closed_) ::shutdown(fd_, SHUT_WR);
  }
  void close() noexcept override { fail(CloseReason::done); }
  std::size_t peer_address(char* out, std::size_t cap) const noexcept override {
    return detail::format_address(peer_, out, cap);
  }

  // Watcher
  void on_events(std::uint32_t events) override;

  void read_some(bool peer_closed = false);
  void fail(CloseReason why) noexcept;
  void finalize() noexcept;
  bool closed() const noexcept { return closed_; }

private:
  // A background write: the iovecs left (copied), or a sendfile range.
  struct WriteState {
    std::vector<iovec> iov;
    std::size_t at = 0;
    int sf_fd = -1;
    std::uint64_t sf_off = 0;
    std::size_t sf_left = 0;
  };
  WriteState& write_state() {
    if (!w_) w_ = std::make_unique<WriteState>();
    return *w_;
  }
  void continue_write();

  static Worker& worker() noexcept { return *this_worker; }

  std::unique_ptr<WriteState> w_;
  detail::PeerIp peer_;
  int fd_;
  CloseReason reason_ = CloseReason::done;

public:
  bool in_ready : 1 = false; // in the worker's ready list
  bool heavy : 1 = false;    // its last read filled the buffer: more is likely waiting

private:
  bool paused_ : 1 = false;
  bool eof_ : 1 = false;
  bool closed_ : 1 = false;
  bool writing_ : 1 = false;
};

// The idle budget (docs/backends.md): with HttpConnection, two malloc chunks of 80 + 144 bytes.
static_assert(sizeof(void*) != 8 || sizeof(EpollConn) <= 72, "EpollConn outgrew its budget");

class Listener final : public Watcher {
public:
  explicit Listener(Worker& w) noexcept : worker_(w) {}
  void on_events(std::uint32_t) override;

private:
  Worker& worker_;
};

class Worker final : public detail::OwnLoop<EpollLoop>, public detail::WorkerBase {
public:
  Worker(int listen_fd, ListenInfo info, const ListenConfig& config)
      : WorkerBase(loop, listen_fd, info, config) {}

  // One read takes at most this much: a read of a flood of tiny chunks or frames costs the
  // loop a few hundred microseconds, so other connections' requests wait that at most per
  // heavy sender (and heavy senders take turns: slice_spent).
  char read_buf[16 * 1024];

  void accept_ready();
  void add_ready(EpollConn* c) {
    if (c->in_ready) return;
    c->in_ready = true;
    ready_.push_back(c);
  }
  using WorkerBase::closing;
  /// True once this loop round has spent its slice on heavy readers (new_slice starts one).
  bool slice_spent() const noexcept { return std::chrono::steady_clock::now() > slice_end_; }
  void new_slice() noexcept { slice_end_ = loop.now() + std::chrono::microseconds(500); }

private:
  // WorkerBase
  void enter() noexcept override;
  void serve() override;
  void close_listener() noexcept override;
  void close_connection(detail::WorkerConn& c, CloseReason why) noexcept override {
    static_cast<EpollConn&>(c).fail(why);
  }
  void end_loop() noexcept override { loop.exit(); }
  void settle() override;
  void accept_again() noexcept override { resume_accepting(); }

  bool after_iteration();
  void pause_accepting() noexcept;
  void resume_accepting() noexcept;

  Listener listener_{*this};
  std::vector<EpollConn*> ready_;
  std::chrono::steady_clock::time_point slice_end_{};
  bool accept_paused_ = false; // the listener is out of the epoll set
  bool backing_off_ = false;   // paused after EMFILE/ENFILE: resumes on a timer
};

// ---- EpollConn

Loop& EpollConn::loop() noexcept {
  return worker().loop;
}

void EpollConn::on_events(std::uint32_t events) {
  if (closed_) return;
  if (events & EPOLLERR) {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    fail(CloseReason::client_gone);
    return;
  }
  if ((events & EPOLLOUT) && writing_) continue_write();
  if (closed_ || !(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))) return;
  // A heavy sender waits its turn once this round's slice is spent (Worker::slice_spent);
  // others read now, so a few busy connections cannot hold everyone's requests back.
  if (heavy && !(events & (EPOLLRDHUP | EPOLLHUP)) && worker().slice_spent()) {
    worker().add_ready(this);
    return;
  }
  read_some((events & (EPOLLRDHUP | EPOLLHUP)) != 0);
}

void EpollConn::read_some(bool peer_closed) {
  if (closed_ || eof_) return;
  if (paused_) return; // resume_reading() comes back here
  char* buf = worker().read_buf;
  const std::size_t cap = sizeof worker().read_buf;
  for (int i = 0; i < 8; ++i) {
    ssize_t n = ::recv(fd_, buf, cap, 0);
    if (n > 0) {
      handler->on_read(buf, static_cast<std::size_t>(n));
      if (closed_ || paused_) return;
      // A full read may have left more: that waits for the next round, after the other
      // connections, so one sender (a flood of tiny chunks or frames) holds the loop for one
      // 64 KiB read at a time. Edge-triggered: a short read drained the socket and later
      // bytes raise a new edge; but a FIN that came with the bytes raises none, so then read
      // on to the EOF.
      heavy = static_cast<std::size_t>(n) == cap;
      if (heavy) break;
      if (!peer_closed) return;
      continue;
    }
    if (n == 0) {
      eof_ = true;
      handler->on_eof();
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    fail(CloseReason::client_gone);
    return;
  }
  worker().add_ready(this); // fairness: the rest of this burst waits for the next round
}

void EpollConn::resume_reading() noexcept {
  if (!paused_) return;
  paused_ = false;
  if (!closed_) worker().add_ready(this); // bytes may be waiting: no new edge will say so
}

std::size_t EpollConn::try_write(const iovec* iov, int iovcnt, std::error_code& ec) noexcept {
  if (closed_) {
    ec = std::make_error_code(std::errc::broken_pipe);
    return 0;
  }
  msghdr m{};
  m.msg_iov = const_cast<iovec*>(iov);
  m.msg_iovlen = static_cast<std::size_t>(iovcnt);
  for (;;) {
    ssize_t n = ::sendmsg(fd_, &m, MSG_NOSIGNAL);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    ec = std::error_code(errno, std::system_category());
    return 0;
  }
}

void EpollConn::write(const iovec* iov, int iovcnt) noexcept {
  WriteState& w = write_state();
  w.iov.assign(iov, iov + iovcnt);
  w.at = 0;
  writing_ = true;
  // EPOLLOUT is armed (edge-triggered) since accept: the next free space raises it.
}

std::size_t EpollConn::try_sendfile(int fd, std::uint64_t offset, std::size_t len,
                                    std::error_code& ec) noexcept {
  if (closed_) {
    ec = std::make_error_code(std::errc::broken_pipe);
    return 0;
  }
  return detail::send_file(fd_, fd, offset, len, ec);
}

void EpollConn::sendfile(int fd, std::uint64_t offset, std::size_t len) noexcept {
  WriteState& w = write_state();
  w.sf_fd = fd;
  w.sf_off = offset;
  w.sf_left = len;
  writing_ = true;
}

void EpollConn::continue_write() {
  std::error_code ec;
  WriteState& w = *w_;
  if (w.sf_fd >= 0) {
    while (w.sf_left > 0) {
      std::size_t n = try_sendfile(w.sf_fd, w.sf_off, w.sf_left, ec);
      if (ec) break;
      if (n == 0) return; // full again: wait for the next edge
      w.sf_off += n;
      w.sf_left -= n;
    }
    w.sf_fd = -1;
  } else {
    while (w.at < w.iov.size()) {
      std::size_t n = try_write(w.iov.data() + w.at, static_cast<int>(w.iov.size() - w.at), ec);
      if (ec) break;
      if (n == 0) return;
      while (n > 0) {
        iovec& v = w.iov[w.at];
        if (n >= v.iov_len) {
          n -= v.iov_len;
          ++w.at;
        } else {
          v.iov_base = static_cast<char*>(v.iov_base) + n;
          v.iov_len -= n;
          n = 0;
        }
      }
    }
  }
  writing_ = false;
  handler->on_write_done(ec);
}

void EpollConn::fail(CloseReason why) noexcept {
  if (closed_) return;
  closed_ = true;
  reason_ = why;
  worker().loop.remove(fd_);
  ::close(fd_);
  worker().closing(*this); // on_closed after this iteration's dispatch, never re-entrantly
}

void EpollConn::finalize() noexcept {
  handler->on_closed(reason_);
}

// ---- Listener and Worker

void Listener::on_events(std::uint32_t) {
  worker_.accept_ready();
}

void Worker::pause_accepting() noexcept {
  if (accept_paused_ || listen_fd_ < 0) return;
  loop.modify(listen_fd_, 0, &listener_);
  accept_paused_ = true;
}

void Worker::resume_accepting() noexcept {
  if (!accept_paused_ || at_limit() || backing_off_ || listen_fd_ < 0) return;
  loop.modify(listen_fd_, EPOLLIN, &listener_);
  accept_paused_ = false;
}

void Worker::accept_ready() {
  // Up to 1024 per readiness (libuv takes all): a burst of new connections (10,000 clients
  // at once in bench/run's async scenario) gets in sooner, and so do its requests; the cap
  // keeps one storm from starving the connections already here.
  for (int i = 0; i < 1024 && listen_fd_ >= 0; ++i) {
    if (full()) {
      // At the limit: the kernel's backlog holds new connections until one of ours closes.
      pause_accepting();
      return;
    }
    detail::PeerAddress peer{};
    socklen_t len = sizeof peer;
    int fd = ::accept4(listen_fd_, &peer.sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: stop accepting for a moment rather than spin on the listener
        // (it stays readable); open connections are served meanwhile.
        warn(std::string("accept: ") + std::strerror(errno) +
             "; accepting again in 100 ms steps meanwhile");
        backing_off_ = true;
        pause_accepting();
        loop.add_timer(Millis(100), [this] {
          backing_off_ = false;
          resume_accepting();
        });
      }
      return;
    }
    detail::set_nodelay(fd);
    auto conn = std::make_unique<EpollConn>(fd, peer);
    EpollConn* c = conn.release(); // owned by the worker's lists; freed in after_iteration
    adopt(*c, *c);
    if (!loop.add(fd, conn_events, c)) c->fail(CloseReason::error);
  }
}

bool Worker::after_iteration() {
  // Connections that still have bytes to read (fairness cap, or resumed reading), one read
  // each, for at most a slice of time: then the loop polls again, so new requests are not
  // kept waiting behind a round of heavy senders; the rest of the round comes after them.
  std::vector<EpollConn*> ready;
  ready.swap(ready_);
  std::size_t done = 0;
  while (done < ready.size()) {
    EpollConn* c = ready[done++];
    c->in_ready = false;
    c->read_some();
    if (slice_spent()) break;
  }
  if (done < ready.size()) { // the rest of the round first, then those re-queued meanwhile
    ready.erase(ready.begin(), ready.begin() + static_cast<std::ptrdiff_t>(done));
    ready.insert(ready.end(), ready_.begin(), ready_.end());
    ready_.swap(ready);
  }
  // Closed connections end here, after dispatch; on_closed may close others, which join the
  // list and end here too. Releasing the last one at a stop ends the loop.
  while (detail::WorkerConn* w = first_closing()) {
    auto* c = static_cast<EpollConn*>(w);
    if (c->in_ready)
      for (EpollConn*& r : ready_)
        if (r == c) r = nullptr;
    c->finalize();
    release(*c);
    std::unique_ptr<EpollConn> doomed(c);
  }
  std::erase(ready_, nullptr);
  return !ready_.empty();
}

void Worker::close_listener() noexcept {
  if (listen_fd_ < 0) return;
  loop.remove(listen_fd_);
  ::close(listen_fd_);
  listen_fd_ = -1;
}

void Worker::enter() noexcept {
  this_worker = this;
  loop.attach_thread();
}

void Worker::serve() {
  loop.add(listen_fd_, EPOLLIN, &listener_);
  loop.run([this] { new_slice(); }, [this] { return after_iteration(); });
}

void Worker::settle() {
  after_iteration(); // the connections closed last end here
  loop.shut_down();
}

} // namespace

std::unique_ptr<Backend> make_epoll_backend() {
  return std::make_unique<detail::WorkerPool<Worker>>("epoll");
}

} // namespace lithe::backend
