// The io_uring backend: N worker threads, each with its own UringLoop (one ring), its own
// SO_REUSEPORT listener and its own Service. Accepts are one multishot accept; reads are one
// multishot receive per connection into the worker's provided buffers (a buffer is given
// back right after on_read, so an idle connection holds none; heavy senders read one-shot into
// larger ones); writes are send/sendmsg SQEs;
// everything a turn queued goes in with its wait, in one io_uring_enter. It knows nothing of
// HTTP: the Service (the engine) gets bytes and gives bytes. docs/backends.md.
#include "uring_loop.hpp"

#include <lithe/backend.hpp>
#include <lithe/backends/uring.hpp>
#include <lithe/detail/net.hpp>
#include <lithe/detail/worker_base.hpp>
#include <lithe/detail/worker_pool.hpp>
#include <lithe/log.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace lithe::backend {

namespace {

class Worker;

// The kinds of operation in the ring (the low bits of user_data; dispatch() below).
enum Kind : unsigned { recv_op = 1, send_op = 2, accept_op = 3 };

// What try_write takes at once, as a socket's buffer would: beyond it the engine's background
// write() follows, from the engine's own memory.
constexpr std::size_t stage_cap = 64 * 1024;
// How long bytes try_write accepted may still take to leave after close() (a peer that reads
// nothing), before they are dropped and the socket closed.
constexpr Millis linger_limit{5000};

thread_local Worker* this_worker = nullptr;

// A connection's state beyond the idle minimum: what is being written and input held while
// reading is paused. Made on the first write, returned to the worker's spares once idle.
struct Extra {
  std::string stage; // bytes try_write accepted: they go out first
  std::size_t stage_at = 0;
  std::vector<iovec> iov; // the engine's background write (its memory) ...
  std::size_t at = 0;
  int sf_fd = -1; // ... or its sendfile range
  std::uint64_t sf_off = 0;
  std::size_t sf_left = 0;
  msghdr msg{};
  std::string held; // received after pause_reading(), delivered on resume
  bool held_eof = false;
  bool sending_stage = false; // which of the two the send in flight is
  bool polling = false;       // the op in flight is a poll for room, not a send
  TimerId linger = 0;

  bool idle() const noexcept {
    return stage.empty() && iov.empty() && sf_fd < 0 && held.empty() && !held_eof && linger == 0;
  }
};

// One connection. Kept small, since every idle connection holds one (docs/backends.md).
class UringConn final : public Transport, public detail::WorkerConn {
public:
  UringConn(int fd, const detail::PeerAddress& peer) noexcept
      : peer_(detail::PeerIp::of(peer)), fd_(fd) {}

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
  void close() noexcept override { fail(CloseReason::done, false); }
  void abort() noexcept override { fail(CloseReason::done, true); }
  std::size_t peer_address(char* out, std::size_t cap) const noexcept override {
    return detail::format_address(peer_, out, cap);
  }
  std::size_t memory() const noexcept override {
    return x_ ? x_->stage.capacity() + x_->held.capacity() : 0;
  }

  void on_cqe(unsigned kind, int res, unsigned flags);

  void arm_recv() noexcept;
  void pump() noexcept;
  void deliver_held();
  /// Closes; `hard` also drops bytes try_write accepted and not yet sent.
  void fail(CloseReason why, bool hard) noexcept;
  void finalize() noexcept { handler->on_closed(reason_); }
  /// The engine's memory is still in a send in flight: on_closed must wait for its CQE.
  bool engine_send_in_flight() const noexcept { return send_busy_ && x_ && !x_->sending_stage; }
  /// Nothing of it is in the ring any more: its socket may close and it may be freed.
  bool quiet() const noexcept { return !recv_armed_ && !send_busy_ && !in_ready && !in_flush; }
  void cancel_all() noexcept;
  void end() noexcept; // closes the socket; the caller frees it

  bool in_ready : 1 = false; // in the worker's list of held input to deliver
  bool in_flush : 1 = false; // in the worker's list of connections with output to start

private:
  static Worker& worker() noexcept { return *this_worker; }
  Extra& extra() noexcept;
  void give_back_extra() noexcept;
  void flush_soon() noexcept;
  void on_recv(int res, unsigned flags);
  void on_sent(int res);
  void rearm_recv() noexcept {
    if (!closed_ && !eof_ && !paused_ && !recv_armed_) arm_recv();
  }
  void write_done(std::error_code ec) noexcept;
  void poll_out() noexcept;

  std::unique_ptr<Extra> x_;
  detail::PeerIp peer_;
  int fd_;
  CloseReason reason_ = CloseReason::done;
  bool paused_ : 1 = false;
  bool eof_ : 1 = false; // no more receiving (EOF seen, delivered or held)
  bool closed_ : 1 = false;
  bool writing_ : 1 = false;    // the engine's write() or sendfile() is not done
  bool recv_armed_ : 1 = false; // a multishot receive is in the ring
  bool recv_cancelled_ : 1 = false;
  bool send_busy_ : 1 = false; // a send (or a poll for room) is in the ring
  bool shut_pending_ : 1 = false;
  bool single_ : 1 = true;      // reading with one-shot receives (the first read, heavy senders)
  bool heavy_ : 1 = false;      // a read filled a buffer: one-shot receives for good
  bool limited_ : 1 = false;    // the receive in the ring is a multishot one with a limit
  bool recv_large_ : 1 = false; // ... reads into the large buffers
};

// The idle budget (docs/backends.md): with HttpConnection, malloc chunks of 80 + 144 bytes,
// as the epoll backend's.
static_assert(sizeof(void*) != 8 || sizeof(UringConn) <= 72, "UringConn outgrew its budget");

// Every completion of a worker's ring: to the worker (accepts) or to a connection.
void dispatch(void* owner, unsigned kind, int res, unsigned flags);

class Worker final : public detail::OwnLoop<UringLoop>, public detail::WorkerBase {
public:
  Worker(int listen_fd, ListenInfo info, const ListenConfig& config)
      : WorkerBase(loop, listen_fd, info, config) {
    loop.set_dispatch(&dispatch);
  }
  ~Worker() override;

  void on_cqe(unsigned kind, int res, unsigned flags);

  using WorkerBase::closing;
  void add_ready(UringConn* c) {
    if (c->in_ready) return;
    c->in_ready = true;
    ready_.push_back(c);
  }
  void add_flush(UringConn* c) {
    if (c->in_flush) return;
    c->in_flush = true;
    flush_.push_back(c);
  }
  std::unique_ptr<Extra> take_extra() {
    if (spares_.empty()) return std::make_unique<Extra>();
    auto x = std::move(spares_.back());
    spares_.pop_back();
    return x;
  }
  void keep_extra(std::unique_ptr<Extra> x) {
    if (spares_.size() >= 64) return;
    x->stage.clear();
    if (x->stage.capacity() > stage_cap) std::string().swap(x->stage);
    std::string().swap(x->held);
    x->iov.clear();
    x->stage_at = x->at = 0;
    spares_.push_back(std::move(x));
  }

private:
  // WorkerBase
  void enter() noexcept override;
  void serve() override;
  void close_listener() noexcept override;
  void close_connection(detail::WorkerConn& c, CloseReason why) noexcept override {
    static_cast<UringConn&>(c).fail(why, why != CloseReason::done);
  }
  void end_loop() noexcept override {
    // Not while the multishot accept is still ending: what it accepts meanwhile is served.
    if (accept_armed_)
      exit_after_accept_ = true;
    else
      loop.exit();
  }
  void settle() override;
  void accept_again() noexcept override;

  bool after_iteration();
  void arm_accept() noexcept;
  void take(int fd);

  std::vector<UringConn*> ready_, flush_;
  detail::IntrusiveList<detail::WorkerConn> unfinished_; // closed; a send holds engine memory
  detail::IntrusiveList<detail::WorkerConn> dying_;      // released; waiting for their last CQEs
  std::vector<std::unique_ptr<Extra>> spares_;
  std::vector<int> waiting_; // accepted past the connection limit: adopted when one closes
  std::string open_error_;
  bool ring_ok_ = false;
  bool accept_armed_ = false;
  bool backing_off_ = false;       // after EMFILE/ENFILE: accepting again on a timer
  bool exit_after_accept_ = false; // end_loop() came while the accept was still ending
};

void dispatch(void* owner, unsigned kind, int res, unsigned flags) {
  if (kind == accept_op)
    static_cast<Worker*>(owner)->on_cqe(kind, res, flags);
  else
    static_cast<UringConn*>(owner)->on_cqe(kind, res, flags);
}

// ---- UringConn

Loop& UringConn::loop() noexcept {
  return worker().loop;
}

Extra& UringConn::extra() noexcept {
  if (!x_) x_ = worker().take_extra();
  return *x_;
}

void UringConn::give_back_extra() noexcept {
  if (x_ && x_->idle() && !send_busy_) worker().keep_extra(std::move(x_));
}

void UringConn::flush_soon() noexcept {
  worker().add_flush(this);
}

void UringConn::arm_recv() noexcept {
  io_uring_sqe* s = worker().loop.sqe();
  UringLoop& loop = worker().loop;
  // A heavy sender reads into a large buffer; every other read, the first included, into a
  // small one (a first request that fills it makes the connection heavy).
  recv_large_ = heavy_;
  const UringLoop::Group group = heavy_ ? UringLoop::large_group : UringLoop::small_group;
  if (single_) {
    io_uring_prep_recv(s, fd_, nullptr, UringLoop::buffer_size[group], 0);
  } else {
    io_uring_prep_recv_multishot(s, fd_, nullptr, 0, 0);
    // The kernel's multishot receive reads while the socket has bytes (requeueing itself
    // after 32), so a sender that turns fast could fill the whole buffer ring in one turn,
    // and what comes after a pause is held: the receive ends after multishot_limit bytes.
    // (The field is sqe->optlen in newer headers; liburing 2.3 names it file_index.)
    if (loop.multishot_limit_ok) s->file_index = UringLoop::multishot_limit;
    limited_ = loop.multishot_limit_ok;
  }
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = group;
  io_uring_sqe_set_data64(s, UringLoop::tag(this, recv_op));
  recv_armed_ = true;
  recv_cancelled_ = false;
}

void UringConn::on_cqe(unsigned kind, int res, unsigned flags) {
  if (kind == recv_op)
    on_recv(res, flags);
  else
    on_sent(res);
}

void UringConn::on_recv(int res, unsigned flags) {
  const bool more = (flags & IORING_CQE_F_MORE) != 0;
  if (!more) recv_armed_ = false; // this multishot receive has ended
  if (res > 0) {
    const unsigned id = flags >> IORING_CQE_BUFFER_SHIFT;
    // The group this receive was armed with: one receive is in the ring at a time.
    const UringLoop::Group group = recv_large_ ? UringLoop::large_group : UringLoop::small_group;
    const char* data = worker().loop.buffer(group, id);
    if (!closed_) {
      if (paused_) { // in flight when reading paused: held, not lost
        extra().held.append(data, static_cast<std::size_t>(res));
      } else {
        handler->on_read(data, static_cast<std::size_t>(res)); // the engine copies what it keeps
      }
    }
    worker().loop.give_back(group, id);
    if (static_cast<unsigned>(res) == UringLoop::buffer_size[group]) {
      // A full buffer: a fast sender, whose multishot receive would read ahead as much as
      // the socket holds in one turn (the kernel retries while bytes are there, and what
      // comes after a pause must be held). From now on it is read one buffer per turn, as
      // the epoll backend reads a heavy sender: a pause then holds one buffer at most.
      if (!single_ && recv_armed_ && !recv_cancelled_) {
        worker().loop.cancel(UringLoop::tag(this, recv_op));
        recv_cancelled_ = true;
      }
      single_ = heavy_ = true;
    } else if (single_ && !heavy_) {
      // The first read was short: a light connection, read by one multishot receive from
      // now on. (The first is one-shot: a connection that opens with a flood is heavy from
      // its first buffer, before a multishot receive could read ahead its whole socket.)
      single_ = false;
    }
    if (!more) {
      // A one-shot receive re-arms after this turn's dispatch (Worker::after_iteration), so
      // the receives that found the buffer ring empty this turn, re-armed during dispatch, go
      // in first: with many heavy senders and few buffers, none starves.
      if (single_)
        worker().add_ready(this);
      else
        rearm_recv();
    }
    return;
  }
  if (res == 0) { // the peer's FIN
    eof_ = true;
    if (closed_) return;
    if (paused_) {
      extra().held_eof = true;
      return;
    }
    handler->on_eof();
    return;
  }
  // The buffer ring ran dry (ENOBUFS: the bytes wait in the socket), or our cancel (a pause):
  // receive again, unless paused or closed.
  if (res == -ENOBUFS || res == -ECANCELED) {
    rearm_recv();
    return;
  }
  if (res == -EINVAL && limited_) { // a kernel before 6.17: multishot receives without a limit
    worker().loop.multishot_limit_ok = false;
    rearm_recv();
    return;
  }
  if (!closed_) fail(CloseReason::client_gone, true);
}

void UringConn::pause_reading() noexcept {
  if (paused_) return;
  paused_ = true;
  // A one-shot receive in the ring brings one buffer at most: held. A multishot one is
  // cancelled; what it brought before the cancel is held too.
  if (recv_armed_ && !recv_cancelled_ && !single_) {
    worker().loop.cancel(UringLoop::tag(this, recv_op));
    recv_cancelled_ = true;
  }
}

void UringConn::resume_reading() noexcept {
  if (!paused_) return;
  paused_ = false;
  recv_cancelled_ = false; // a later pause cancels again, should this cancel have missed
  if (closed_) return;
  if (x_ && (!x_->held.empty() || x_->held_eof)) {
    // The held bytes go first (after this turn's dispatch), and the receive re-arms after
    // them: a pause before then holds no more than what is held already.
    worker().add_ready(this);
    return;
  }
  // A receive still ending (cancelled) re-arms when its last CQE comes.
  rearm_recv();
}

void UringConn::deliver_held() {
  if (closed_ || paused_) return;
  if (x_ && !x_->held.empty()) {
    std::string held;
    held.swap(x_->held);
    handler->on_read(held.data(), held.size());
    if (closed_ || !x_ || paused_) return;
  }
  if (x_ && x_->held_eof) {
    x_->held_eof = false;
    handler->on_eof();
    if (closed_) return;
  }
  rearm_recv();
  give_back_extra();
}

std::size_t UringConn::try_write(const iovec* iov, int iovcnt, std::error_code& ec) noexcept {
  if (closed_) {
    ec = std::make_error_code(std::errc::broken_pipe);
    return 0;
  }
  // Taken into the stage (sent at the end of this turn, with everything else the turn
  // queued), up to what a socket buffer would take; nothing while a send is in flight.
  if (send_busy_ || writing_) return 0;
  Extra& x = extra();
  std::size_t room = x.stage.size() < stage_cap ? stage_cap - x.stage.size() : 0;
  std::size_t n = 0;
  for (int i = 0; i < iovcnt && room > 0; ++i) {
    std::size_t take = iov[i].iov_len < room ? iov[i].iov_len : room;
    x.stage.append(static_cast<const char*>(iov[i].iov_base), take);
    room -= take;
    n += take;
  }
  if (n > 0) flush_soon();
  return n;
}

void UringConn::write(const iovec* iov, int iovcnt) noexcept {
  Extra& x = extra();
  x.iov.assign(iov, iov + iovcnt);
  x.at = 0;
  writing_ = true;
  flush_soon();
}

std::size_t UringConn::try_sendfile(int fd, std::uint64_t offset, std::size_t len,
                                    std::error_code& ec) noexcept {
  if (closed_) {
    ec = std::make_error_code(std::errc::broken_pipe);
    return 0;
  }
  // Staged bytes go first: the file waits for them (sendfile() then, in the background).
  if (send_busy_ || writing_ || (x_ && !x_->stage.empty())) return 0;
  return detail::send_file(fd_, fd, offset, len, ec);
}

void UringConn::sendfile(int fd, std::uint64_t offset, std::size_t len) noexcept {
  Extra& x = extra();
  x.sf_fd = fd;
  x.sf_off = offset;
  x.sf_left = len;
  writing_ = true;
  flush_soon();
}

void UringConn::shutdown_write() noexcept {
  if (closed_) return;
  if (send_busy_ || (x_ && !x_->stage.empty())) {
    shut_pending_ = true; // after the staged bytes
    return;
  }
  ::shutdown(fd_, SHUT_WR);
}

void UringConn::poll_out() noexcept {
  io_uring_sqe* s = worker().loop.sqe();
  io_uring_prep_poll_add(s, fd_, POLLOUT);
  io_uring_sqe_set_data64(s, UringLoop::tag(this, send_op));
  x_->polling = true;
  send_busy_ = true;
}

void UringConn::pump() noexcept {
  if (send_busy_ || !x_) return;
  Extra& x = *x_;
  if (x.stage_at < x.stage.size()) {
    io_uring_sqe* s = worker().loop.sqe();
    io_uring_prep_send(s, fd_, x.stage.data() + x.stage_at, x.stage.size() - x.stage_at,
                       MSG_NOSIGNAL);
    io_uring_sqe_set_data64(s, UringLoop::tag(this, send_op));
    x.sending_stage = true;
    send_busy_ = true;
    return;
  }
  if (x.at < x.iov.size()) {
    if (closed_) { // never send from the engine's memory after close
      x.iov.clear();
      writing_ = false;
    } else {
      x.msg = {};
      x.msg.msg_iov = x.iov.data() + x.at;
      x.msg.msg_iovlen = x.iov.size() - x.at;
      io_uring_sqe* s = worker().loop.sqe();
      io_uring_prep_sendmsg(s, fd_, &x.msg, MSG_NOSIGNAL);
      io_uring_sqe_set_data64(s, UringLoop::tag(this, send_op));
      x.sending_stage = false;
      send_busy_ = true;
      return;
    }
  }
  if (x.sf_fd >= 0) {
    // Files go by sendfile(2) from the page cache; when the socket is full, a poll SQE waits
    // for room (one at a time: bounded).
    std::error_code ec;
    while (!closed_ && x.sf_left > 0) {
      std::size_t n = detail::send_file(fd_, x.sf_fd, x.sf_off, x.sf_left, ec);
      if (ec) break;
      if (n == 0) {
        x.sending_stage = true; // a poll holds none of the engine's memory
        poll_out();
        return;
      }
      x.sf_off += n;
      x.sf_left -= n;
    }
    x.sf_fd = -1;
    x.sf_left = 0;
    write_done(ec);
    if (!x_) return;
  }
  if (shut_pending_ && !closed_) {
    shut_pending_ = false;
    ::shutdown(fd_, SHUT_WR);
  }
  give_back_extra();
}

void UringConn::write_done(std::error_code ec) noexcept {
  if (!writing_) return;
  writing_ = false;
  if (!closed_) handler->on_write_done(ec);
}

void UringConn::on_sent(int res) {
  send_busy_ = false;
  Extra& x = *x_;
  if (x.polling) { // room in the socket (or the poll failed: then as a send's error)
    x.polling = false;
    if (res >= 0) {
      pump();
      return;
    }
  } else if (res == -EAGAIN || res == -EWOULDBLOCK) {
    poll_out(); // the socket was full: wait for room, then send the rest
    return;
  }
  if (res < 0) {
    // Reset, broken pipe, or our cancel: whatever was to go is dropped.
    x.stage.clear();
    x.stage_at = 0;
    x.iov.clear();
    x.sf_fd = -1;
    shut_pending_ = false;
    if (closed_) {
      writing_ = false;
      return;
    }
    if (writing_)
      write_done(std::error_code(-res, std::system_category()));
    else
      fail(CloseReason::client_gone, true);
    return;
  }
  auto n = static_cast<std::size_t>(res);
  if (x.sending_stage) {
    x.stage_at += n;
    if (x.stage_at >= x.stage.size()) {
      x.stage.clear();
      x.stage_at = 0;
    }
  } else {
    while (n > 0 && x.at < x.iov.size()) {
      iovec& v = x.iov[x.at];
      if (n >= v.iov_len) {
        n -= v.iov_len;
        ++x.at;
      } else {
        v.iov_base = static_cast<char*>(v.iov_base) + n;
        v.iov_len -= n;
        n = 0;
      }
    }
    if (x.at >= x.iov.size()) {
      x.iov.clear();
      x.at = 0;
      write_done({});
      if (!x_) return;
    }
  }
  pump();
}

void UringConn::fail(CloseReason why, bool hard) noexcept {
  if (closed_) return;
  closed_ = true;
  reason_ = why;
  if (recv_armed_ && !recv_cancelled_) {
    worker().loop.cancel(UringLoop::tag(this, recv_op));
    recv_cancelled_ = true;
  }
  if (x_) {
    x_->held.clear();
    x_->held_eof = false;
    x_->iov.clear(); // the engine's write: not sent after close
    x_->sf_fd = -1;
    if (hard) x_->stage.clear();
  }
  if (send_busy_ && (hard || engine_send_in_flight())) {
    worker().loop.cancel(UringLoop::tag(this, send_op));
  } else if (send_busy_ || (x_ && !x_->stage.empty())) {
    // What try_write took still leaves, as from a closed socket's buffer, for a while.
    if (!send_busy_) flush_soon();
    x_->linger = worker().loop.add_timer(linger_limit, [this] {
      x_->linger = 0;
      cancel_all();
    });
  }
  worker().closing(*this); // on_closed after this turn's dispatch, never re-entrantly
}

void UringConn::cancel_all() noexcept {
  if (x_) x_->stage.clear();
  if (send_busy_) worker().loop.cancel(UringLoop::tag(this, send_op));
  if (recv_armed_) worker().loop.cancel(UringLoop::tag(this, recv_op));
}

void UringConn::end() noexcept {
  if (x_ && x_->linger) worker().loop.cancel_timer(x_->linger);
  if (x_) {
    x_->linger = 0;
    x_->held.clear();
    x_->held_eof = false;
    x_->stage.clear();
    x_->iov.clear();
    x_->sf_fd = -1;
    worker().keep_extra(std::move(x_));
  }
  worker().loop.close_fd(fd_);
}

// ---- Worker

Worker::~Worker() {
  // Whatever settle could not see end (a ring that never opened) is freed here.
  while (detail::WorkerConn* w = dying_.pop_front())
    delete static_cast<UringConn*>(w);
  while (detail::WorkerConn* w = unfinished_.pop_front())
    delete static_cast<UringConn*>(w);
  for (int fd : waiting_)
    ::close(fd);
}

void Worker::enter() noexcept {
  this_worker = this;
  ring_ok_ = loop.open(open_error_);
}

void Worker::serve() {
  if (!ring_ok_) {
    log_error("uring backend: " + open_error_ + "; this worker serves nothing");
    return;
  }
  arm_accept();
  loop.run([] {}, [this] { return after_iteration(); });
}

void Worker::arm_accept() noexcept {
  if (accept_armed_ || listen_fd_ < 0) return;
  io_uring_sqe* s = loop.sqe();
  io_uring_prep_multishot_accept(s, listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  io_uring_sqe_set_data64(s, UringLoop::tag(this, accept_op));
  accept_armed_ = true;
}

void Worker::on_cqe(unsigned, int res, unsigned flags) {
  if (!(flags & IORING_CQE_F_MORE)) accept_armed_ = false;
  if (res >= 0) {
    if (listen_fd_ < 0) {
      // Accepted as the stop began, before the cancel reached the accept: no other process
      // can take it from the queue any more, so it is served here, drained like the others
      // (it hears on_stop in adopt()). The loop runs until the accept has ended (end_loop).
      take(res);
    } else if (at_limit() || full()) {
      // At the limit: held unread (a descriptor, no memory) until a connection closes, and
      // no more are accepted (the kernel's backlog holds the rest).
      waiting_.push_back(res);
      if (accept_armed_) loop.cancel(UringLoop::tag(this, accept_op));
    } else {
      take(res);
    }
  } else if (res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM) {
    // Out of descriptors: stop accepting for a moment rather than spin on the listener.
    warn(std::string("accept: ") + std::strerror(-res) +
         "; accepting again in 100 ms steps meanwhile");
    if (accept_armed_) loop.cancel(UringLoop::tag(this, accept_op));
    if (!backing_off_) {
      backing_off_ = true;
      loop.add_timer(Millis(100), [this] {
        backing_off_ = false;
        accept_again();
      });
    }
    return;
  }
  if (!accept_armed_ && exit_after_accept_ && live() == 0) {
    exit_after_accept_ = false;
    loop.exit();
  }
  if (!accept_armed_ && !backing_off_ && !at_limit() && !stopping()) arm_accept();
}

void Worker::take(int fd) {
  detail::PeerAddress peer{};
  socklen_t len = sizeof peer;
  if (::getpeername(fd, &peer.sa, &len) != 0) {
    ::close(fd); // gone already
    return;
  }
  detail::set_nodelay(fd);
  auto* c = new UringConn(fd, peer); // owned by the worker's lists; freed in after_iteration
  adopt(*c, *c);
  c->arm_recv();
}

void Worker::accept_again() noexcept {
  while (!waiting_.empty() && listen_fd_ >= 0 && !full()) {
    int fd = waiting_.front();
    waiting_.erase(waiting_.begin());
    take(fd);
  }
  if (!at_limit() && !backing_off_ && !stopping()) arm_accept();
}

bool Worker::after_iteration() {
  // Input held through a pause, now resumed.
  std::vector<UringConn*> list;
  list.swap(ready_);
  for (UringConn* c : list) {
    c->in_ready = false;
    c->deliver_held();
  }
  // Output queued this turn: its SQEs go in with the next wait.
  list.clear();
  list.swap(flush_);
  for (UringConn* c : list) {
    c->in_flush = false;
    c->pump();
  }
  // Closed connections end here, after dispatch: on_closed (once no send of the engine's
  // memory is in the ring), then released; freed once their last CQE came.
  for (auto it = unfinished_.begin(); it != unfinished_.end();) {
    auto* c = static_cast<UringConn*>(&*it++);
    if (c->engine_send_in_flight()) continue;
    c->unlink();
    c->finalize();
    release(*c);
    dying_.push_back(*c);
  }
  while (detail::WorkerConn* w = first_closing()) {
    auto* c = static_cast<UringConn*>(w);
    if (c->engine_send_in_flight()) {
      c->unlink();
      unfinished_.push_back(*c);
      continue;
    }
    c->finalize();
    release(*c);
    dying_.push_back(*c);
  }
  for (auto it = dying_.begin(); it != dying_.end();) {
    auto* c = static_cast<UringConn*>(&*it++);
    if (!c->quiet()) continue;
    c->unlink();
    c->end();
    delete c;
  }
  return !ready_.empty() || !flush_.empty();
}

void Worker::close_listener() noexcept {
  for (int fd : waiting_)
    ::close(fd);
  waiting_.clear();
  if (listen_fd_ < 0) return;
  if (accept_armed_) loop.cancel(UringLoop::tag(this, accept_op));
  ::close(listen_fd_); // the accept in the ring holds the socket until its cancel is done
  listen_fd_ = -1;
}

void Worker::settle() {
  // The connections closed last end here: their sends finish (or are cancelled after a
  // while), then every CQE they wait for comes, bounded; the ring's teardown ends the rest.
  auto done = [this] { return unfinished_.empty() && dying_.empty() && !accept_armed_; };
  auto after = [this] { return after_iteration(); };
  loop.drain(done, after, Millis(1000));
  if (!done()) {
    for (auto* list : {&unfinished_, &dying_})
      for (auto& w : *list)
        static_cast<UringConn&>(w).cancel_all();
    loop.drain(done, after, Millis(1000));
  }
  loop.submit(); // the last closes
  loop.shut_down();
  loop.close_ring();
  while (detail::WorkerConn* w = unfinished_.pop_front()) {
    auto* c = static_cast<UringConn*>(w);
    c->finalize();
    release(*c);
    delete c;
  }
  while (detail::WorkerConn* w = dying_.pop_front())
    delete static_cast<UringConn*>(w);
}

} // namespace

std::string uring_unavailable() {
  io_uring ring{};
  io_uring_params p{};
  p.flags = IORING_SETUP_SINGLE_ISSUER;
  int r = io_uring_queue_init_params(4, &ring, &p);
  if (r == -EINVAL) {
    // Either a kernel before 6.0 (no SINGLE_ISSUER: no multishot receive either) or io_uring
    // missing a part: say which.
    p = {};
    int plain = io_uring_queue_init_params(4, &ring, &p);
    if (plain == 0) {
      io_uring_queue_exit(&ring);
      return "the kernel's io_uring is too old (multishot receive and provided buffer rings "
             "need Linux 6.0)";
    }
    r = plain;
  }
  if (r == -ENOSYS) return "the kernel has no io_uring (io_uring_setup: ENOSYS)";
  if (r == -EPERM) {
    std::ifstream f("/proc/sys/kernel/io_uring_disabled");
    int disabled = 0;
    if (f >> disabled && disabled != 0)
      return "io_uring is disabled (/proc/sys/kernel/io_uring_disabled = " +
             std::to_string(disabled) + ")";
    return "io_uring_setup is forbidden (EPERM: a seccomp filter or a container's policy)";
  }
  if (r < 0) return std::string("io_uring_setup failed: ") + std::strerror(-r);
  // Provided buffer rings (5.19) and multishot receive (6.0): a ring with a buffer ring.
  alignas(4096) static thread_local char page[4096];
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uintptr_t>(page);
  reg.ring_entries = 1;
  reg.bgid = 0;
  r = io_uring_register_buf_ring(&ring, &reg, 0);
  io_uring_queue_exit(&ring);
  if (r < 0)
    return std::string("io_uring cannot register a provided buffer ring: ") + std::strerror(-r);
  return {};
}

std::unique_ptr<Backend> make_uring_backend() {
  return std::make_unique<detail::WorkerPool<Worker>>("uring");
}

} // namespace lithe::backend
