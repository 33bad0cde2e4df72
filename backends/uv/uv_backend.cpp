// The libuv backend: N worker threads, each with its own UvLoop, its own SO_REUSEPORT
// listener (libuv 1.44 has no reuseport flag: the socket is made by detail::listen_tcp and
// handed over with uv_tcp_open) and its own Service. Reads land in one buffer per loop;
// writes try uv_try_write first, then queue one uv_write; files go out with sendfile(2)
// while the socket takes them, then in 64 KiB pread + uv_write steps (libuv has no
// readiness callback for a uv_tcp that sendfile could wait on). It knows nothing of HTTP.
#include "uv_loop.hpp"

#include <lithe/backends/uv.hpp>
#include <lithe/detail/net.hpp>
#include <lithe/detail/worker_base.hpp>
#include <lithe/detail/worker_pool.hpp>
#include <lithe/log.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <sys/uio.h>
#include <thread>
#include <unistd.h>

namespace lithe::backend {

namespace {

// uv_buf_t is declared to match struct iovec on Unix, so the engine's iovecs pass as they are.
static_assert(sizeof(uv_buf_t) == sizeof(iovec));
static_assert(offsetof(uv_buf_t, base) == offsetof(iovec, iov_base));
static_assert(offsetof(uv_buf_t, len) == offsetof(iovec, iov_len));

const uv_buf_t* as_bufs(const iovec* iov) noexcept {
  return reinterpret_cast<const uv_buf_t*>(iov);
}

std::error_code uv_error(int status) noexcept {
  return {-status, std::system_category()}; // libuv's codes are negated errno values
}

class Worker;

// One connection: its uv_tcp_t, and the worker's list link and the handler (WorkerConn).
class UvConn final : public Transport, public detail::WorkerConn {
public:
  explicit UvConn(Worker& w) noexcept : worker_(w) { tcp.data = this; }

  // Transport
  Loop& loop() noexcept override;
  std::size_t try_write(const iovec* iov, int iovcnt, std::error_code& ec) noexcept override;
  void write(const iovec* iov, int iovcnt) noexcept override;
  bool can_sendfile() const noexcept override { return true; }
  std::size_t try_sendfile(int fd, std::uint64_t offset, std::size_t len,
                           std::error_code& ec) noexcept override;
  void sendfile(int fd, std::uint64_t offset, std::size_t len) noexcept override;
  void pause_reading() noexcept override;
  void resume_reading() noexcept override;
  void shutdown_write() noexcept override;
  void close() noexcept override { fail(CloseReason::done); }
  std::size_t peer_address(char* out, std::size_t cap) const noexcept override {
    return detail::format_address(peer, out, cap);
  }

  void start_reading() noexcept;
  bool waiting_turn() const noexcept { return waiting_turn_; }
  void take_turn() noexcept {
    waiting_turn_ = false;
    start_reading();
  }
  void fail(CloseReason why) noexcept;
  bool closed() const noexcept { return closed_; }

  uv_tcp_t tcp{};
  detail::PeerIp peer{};

private:
  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_written(uv_write_t* req, int status);
  static void on_closed(uv_handle_t* h);
  void send_file_step() noexcept;
  uv_stream_t* stream() noexcept { return reinterpret_cast<uv_stream_t*>(&tcp); }

  Worker& worker_;
  CloseReason reason_ = CloseReason::done;
  bool paused_ = false;
  bool waiting_turn_ = false; // stopped after a full read until the next loop round
  bool eof_ = false;
  bool closed_ = false;
  // What only a stalled write needs, made on the first one: an idle connection holds none.
  struct Writing {
    uv_write_t req{};
    uv_shutdown_t shutdown{};
    // A background file send: what is left of the range, and the chunk in flight.
    int sf_fd = -1;
    std::uint64_t sf_off = 0;
    std::size_t sf_left = 0;
    std::unique_ptr<char[]> sf_buf;
  };
  Writing& writing() {
    if (!w_) w_ = std::make_unique<Writing>();
    return *w_;
  }
  std::unique_ptr<Writing> w_;
};

// The idle budget (docs/backends.md): libuv's uv_tcp_t is most of it.
static_assert(sizeof(void*) != 8 || sizeof(UvConn) <= 320, "UvConn outgrew its budget");

class Worker final : public detail::OwnLoop<UvLoop>, public detail::WorkerBase {
public:
  Worker(int listen_fd, ListenInfo info, const ListenConfig& config)
      : WorkerBase(loop, listen_fd, info, config) {}

  using WorkerBase::closing;
  /// `c` is gone (its close callback ran, and with it on_closed): free it.
  void closed(UvConn* c) noexcept;
  /// `c` filled the read buffer: it reads again next round, after the others (see on_read).
  void wait_turn(UvConn* c) { turns_.push_back(c); }

  // One read takes at most this much, and a connection that fills it waits for the next
  // round (libuv would read up to 32 times): a flood of tiny chunks or frames costs the loop
  // a few hundred microseconds per turn, so other connections' requests wait that at most.
  char read_buf[16 * 1024];

private:
  // WorkerBase
  void enter() noexcept override { loop.attach_thread(); }
  void serve() override;
  void close_listener() noexcept override;
  void close_connection(detail::WorkerConn& c, CloseReason why) noexcept override {
    static_cast<UvConn&>(c).fail(why);
  }
  void end_loop() noexcept override { loop.stop(); }
  void settle() override;
  void accept_again() noexcept override {
    if (listening_) accept_one();
  }

  static void on_connection(uv_stream_t* server, int status);
  void accept_one();

  uv_tcp_t listener_{};
  bool listening_ = false;
  std::vector<UvConn*> turns_; // waiting for the next round (wait_turn)
  uv_check_t turn_check_{};
};

// ---- UvConn

Loop& UvConn::loop() noexcept {
  return worker_.loop;
}

void UvConn::start_reading() noexcept {
  if (closed_ || eof_ || paused_) return;
  uv_read_start(
      stream(),
      [](uv_handle_t* h, std::size_t, uv_buf_t* buf) {
        // One buffer per loop: on_read consumes the bytes before the next read.
        Worker& w = static_cast<UvConn*>(h->data)->worker_;
        *buf = uv_buf_init(w.read_buf, sizeof w.read_buf);
      },
      on_read);
}

void UvConn::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<UvConn*>(s->data);
  if (c->closed_) return;
  if (nread > 0) {
    c->handler->on_read(buf->base, static_cast<std::size_t>(nread));
    if (!c->closed_ && !c->paused_ && !c->eof_ &&
        static_cast<std::size_t>(nread) == sizeof c->worker_.read_buf) {
      uv_read_stop(s);
      c->waiting_turn_ = true;
      c->worker_.wait_turn(c);
    }
  } else if (nread == UV_EOF) {
    c->eof_ = true;
    uv_read_stop(s);
    c->handler->on_eof();
  } else if (nread < 0) {
    c->fail(CloseReason::client_gone);
  }
}

void UvConn::pause_reading() noexcept {
  paused_ = true;
  if (!closed_) uv_read_stop(stream());
}

void UvConn::resume_reading() noexcept {
  if (!paused_) return;
  paused_ = false;
  start_reading(); // libuv polls level-triggered: bytes already waiting are reported
}

std::size_t UvConn::try_write(const iovec* iov, int iovcnt, std::error_code& ec) noexcept {
  if (closed_) {
    ec = std::make_error_code(std::errc::broken_pipe);
    return 0;
  }
  int n = uv_try_write(stream(), as_bufs(iov), static_cast<unsigned>(iovcnt));
  if (n >= 0) return static_cast<std::size_t>(n);
  if (n != UV_EAGAIN) ec = uv_error(n);
  return 0;
}

void UvConn::write(const iovec* iov, int iovcnt) noexcept {
  // libuv copies the buffer descriptors, not the bytes: the engine keeps those until done.
  if (int rc = uv_write(&writing().req, stream(), as_bufs(iov), static_cast<unsigned>(iovcnt),
                        on_written);
      rc != 0)
    fail(CloseReason::client_gone);
}

std::size_t UvConn::try_sendfile(int fd, std::uint64_t offset, std::size_t len,
                                 std::error_code& ec) noexcept {
  if (closed_) {
    ec = std::make_error_code(std::errc::broken_pipe);
    return 0;
  }
  uv_os_fd_t sock;
  uv_fileno(reinterpret_cast<uv_handle_t*>(&tcp), &sock);
  return detail::send_file(sock, fd, offset, len, ec);
}

void UvConn::sendfile(int fd, std::uint64_t offset, std::size_t len) noexcept {
  Writing& w = writing();
  w.sf_fd = fd;
  w.sf_off = offset;
  w.sf_left = len;
  if (!w.sf_buf) w.sf_buf = std::make_unique<char[]>(64 * 1024);
  send_file_step();
}

void UvConn::send_file_step() noexcept {
  Writing& w = *w_;
  std::size_t want = w.sf_left < 64 * 1024 ? w.sf_left : 64 * 1024;
  ssize_t n = ::pread(w.sf_fd, w.sf_buf.get(), want, static_cast<off_t>(w.sf_off));
  if (n <= 0) {
    log_error("a file body could not be read to its end; closing");
    fail(CloseReason::error);
    return;
  }
  w.sf_off += static_cast<std::uint64_t>(n);
  w.sf_left -= static_cast<std::size_t>(n);
  uv_buf_t b = uv_buf_init(w.sf_buf.get(), static_cast<unsigned>(n));
  if (uv_write(&w.req, stream(), &b, 1, on_written) != 0) fail(CloseReason::client_gone);
}

void UvConn::on_written(uv_write_t* req, int status) {
  auto* c = static_cast<UvConn*>(req->handle->data);
  if (c->closed_) return; // cancelled by close(): no handler call follows close()
  Writing& w = *c->w_;
  if (status == 0 && w.sf_fd >= 0 && w.sf_left > 0) {
    c->send_file_step();
    return;
  }
  w.sf_fd = -1;
  c->handler->on_write_done(status < 0 ? uv_error(status) : std::error_code{});
}

void UvConn::shutdown_write() noexcept {
  if (closed_) return;
  uv_shutdown(&writing().shutdown, stream(), [](uv_shutdown_t*, int) {});
}

void UvConn::fail(CloseReason why) noexcept {
  if (closed_) return;
  closed_ = true;
  reason_ = why;
  worker_.closing(*this);
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp), on_closed);
}

void UvConn::on_closed(uv_handle_t* h) {
  auto* c = static_cast<UvConn*>(h->data);
  c->handler->on_closed(c->reason_);
  c->worker_.closed(c);
}

// ---- Worker

void Worker::on_connection(uv_stream_t* server, int status) {
  auto* w = static_cast<Worker*>(server->data);
  if (status < 0) {
    // EMFILE/ENFILE: libuv closes its reserve descriptor to accept and drop the waiting
    // connections instead of spinning; open connections are served meanwhile.
    w->warn(std::string("accept: ") + uv_strerror(status));
    return;
  }
  // At the limit a connection libuv accepted waits un-taken (libuv stops polling the listener
  // until uv_accept): accept_again() takes it when one of ours is released.
  if (w->full()) return;
  w->accept_one();
}

void Worker::accept_one() {
  auto conn = std::make_unique<UvConn>(*this);
  uv_tcp_init(loop.raw(), &conn->tcp);
  if (uv_accept(reinterpret_cast<uv_stream_t*>(&listener_),
                reinterpret_cast<uv_stream_t*>(&conn->tcp)) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&conn.release()->tcp),
             [](uv_handle_t* h) { delete static_cast<UvConn*>(h->data); });
    return;
  }
  UvConn* c = conn.release(); // owned by the worker's lists; freed in closed()
  detail::PeerAddress peer{};
  int len = sizeof peer;
  if (uv_tcp_getpeername(&c->tcp, &peer.sa, &len) == 0) c->peer = detail::PeerIp::of(peer);
  uv_tcp_nodelay(&c->tcp, 1);
  adopt(*c, *c);
  c->start_reading();
}

void Worker::closed(UvConn* c) noexcept {
  if (c->waiting_turn())
    for (UvConn*& t : turns_)
      if (t == c) t = nullptr;
  release(*c); // may end the loop (stopping), or accept one that waited (at the limit)
  delete c;
}

void Worker::close_listener() noexcept {
  if (!listening_) return;
  listening_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
}

void Worker::serve() {
  // After each poll, the connections that waited their turn read again.
  uv_check_init(loop.raw(), &turn_check_);
  turn_check_.data = this;
  uv_check_start(&turn_check_, [](uv_check_t* h) {
    auto* w = static_cast<Worker*>(h->data);
    std::vector<UvConn*> turn;
    turn.swap(w->turns_);
    for (UvConn* c : turn)
      if (c) c->take_turn();
  });
  uv_unref(reinterpret_cast<uv_handle_t*>(&turn_check_));
  uv_tcp_init(loop.raw(), &listener_);
  listener_.data = this;
  int rc = uv_tcp_open(&listener_, listen_fd_);
  if (rc == 0) {
    listen_fd_ = -1; // libuv owns it now
    listening_ = true;
    // ListenConfig::backlog, as detail::listen_tcp gave it: libuv listens again, with this.
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), backlog_, on_connection);
  }
  if (rc != 0) log_error(std::string("uv listen: ") + uv_strerror(rc));
  loop.run();
}

void Worker::settle() {
  for (int i = 0; i < 64 && live() > 0; ++i)
    uv_run(loop.raw(), UV_RUN_NOWAIT); // the close callbacks of the connections closed last
  loop.shut_down();
}

} // namespace

std::unique_ptr<Backend> make_uv_backend() {
  return std::make_unique<detail::WorkerPool<Worker>>("uv");
}

} // namespace lithe::backend
