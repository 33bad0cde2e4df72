// The handles an app keeps past `call`: AsyncCallback, DeferrableBody, Socket. Each is safe
// from any thread (off the loop it posts itself there) and after its request ended.
#include <lithe/body.hpp>
#include <lithe/detail/exchange.hpp>
#include <lithe/env.hpp>
#include <lithe/lint.hpp>

#include <fcntl.h>
#include <unistd.h>

namespace lithe {

using detail::BodyState;
using detail::Exchange;
using detail::Ref;
using detail::report_lint;
using detail::SocketState;

// ---- AsyncCallback

AsyncCallback::AsyncCallback(Exchange* ex) noexcept : ex_(ex) {
  if (ex_) {
    ex_->add_ref();
    ex_->callback_acquired();
  }
}
AsyncCallback::AsyncCallback(const AsyncCallback& o) noexcept : AsyncCallback(o.ex_) {}
AsyncCallback::AsyncCallback(AsyncCallback&& o) noexcept : ex_(std::exchange(o.ex_, nullptr)) {}
AsyncCallback& AsyncCallback::operator=(AsyncCallback o) noexcept {
  std::swap(ex_, o.ex_);
  return *this;
}
AsyncCallback::~AsyncCallback() {
  if (Exchange* ex = std::exchange(ex_, nullptr)) {
    ex->callback_released();
    if (ex->drop_ref()) Exchange::last_ref_dropped(ex);
  }
}

bool AsyncCallback::operator()(Response r) const {
  if (!ex_) return false;
  if (ex_->home().in_loop_thread()) return ex_->deliver(std::move(r)); // reports a second call
  if (ex_->gone()) return false;
  // The posted task holds a callback of its own, so the exchange never looks abandoned
  // while the response is on its way (SPEC 5.4). A loop that has ended refuses it.
  return ex_->home().post(
      [cb = *this, r = std::move(r)]() mutable { cb.ex_->deliver(std::move(r)); });
}

bool AsyncCallback::pending() const noexcept {
  return ex_ && !ex_->gone() && !ex_->responded();
}

// ---- DeferrableBody

DeferrableBody::DeferrableBody() : state_(new BodyState(Loop::current())) {
  state_->handle_acquired();
}
DeferrableBody::DeferrableBody(const DeferrableBody& o) noexcept : state_(o.state_) {
  if (state_) state_->handle_acquired();
}
DeferrableBody::DeferrableBody(DeferrableBody&& o) noexcept : state_(std::move(o.state_)) {}
DeferrableBody& DeferrableBody::operator=(DeferrableBody o) noexcept {
  std::swap(state_, o.state_); // o's destructor releases the handle this one held
  return *this;
}
DeferrableBody::~DeferrableBody() {
  if (state_) state_->handle_released();
}

namespace {

// A write from another thread: posted with its size counted, so writable() there sees the
// bytes on their way as well as what the loop last saw queued (SPEC 4.5).
bool post_write(const Ref<BodyState>& state, std::string&& bytes) {
  auto n = static_cast<std::ptrdiff_t>(bytes.size());
  state->posted_bytes(n);
  struct Counted {
    Ref<BodyState> s;
    std::ptrdiff_t n;
    Counted(Ref<BodyState> st, std::ptrdiff_t c) : s(std::move(st)), n(c) {}
    Counted(Counted&& o) noexcept : s(std::move(o.s)), n(std::exchange(o.n, 0)) {}
    ~Counted() {
      if (s && n) s->posted_bytes(-n);
    }
  };
  if (!state->home().post(
          [c = Counted(state, n), b = std::move(bytes)]() mutable { c.s->write(std::move(b)); }))
    return false;
  return state->writable_seen();
}

// A write the body refuses at once: it is closed, or the app ended it, which Lint reports
// (SPEC 4.6) even when the body has closed since.
bool refused(const BodyState& s) {
  if (s.ended()) {
    report_lint({"4.6", "a body was written after succeed() or fail()"});
    return true;
  }
  return s.is_closed();
}

} // namespace

bool DeferrableBody::write(std::string_view bytes) const {
  if (!state_ || refused(*state_)) return false;
  if (state_->on_loop()) return state_->write(bytes);
  return post_write(state_, std::string(bytes));
}

bool DeferrableBody::write_owned(std::string&& bytes) const {
  if (!state_ || refused(*state_)) return false;
  if (state_->on_loop()) return state_->write(std::move(bytes));
  return post_write(state_, std::move(bytes));
}

void DeferrableBody::succeed() const {
  if (!state_) return;
  if (state_->on_loop())
    state_->end(true);
  else
    state_->home().post([s = state_] { s->end(true); });
}

void DeferrableBody::fail() const {
  if (!state_) return;
  if (state_->on_loop())
    state_->end(false);
  else
    state_->home().post([s = state_] { s->end(false); });
}

bool DeferrableBody::writable() const noexcept {
  if (!state_) return false;
  if (state_->on_loop()) return state_->writable();
  return state_->writable_seen();
}

std::size_t DeferrableBody::buffered() const noexcept {
  if (!state_) return 0;
  return state_->on_loop() ? state_->buffered() : state_->buffered_seen();
}

bool DeferrableBody::closed() const noexcept {
  return !state_ || state_->is_closed();
}

void DeferrableBody::on_drain(Task fn) const {
  if (!state_) return;
  if (state_->on_loop())
    state_->set_on_drain(std::move(fn));
  else
    state_->home().post(
        [s = state_, f = std::move(fn)]() mutable { s->set_on_drain(std::move(f)); });
}

void DeferrableBody::on_close(Function<void(CloseReason)> fn) const {
  if (!state_) return;
  if (state_->on_loop())
    state_->set_on_close(std::move(fn));
  else
    state_->home().post(
        [s = state_, f = std::move(fn)]() mutable { s->set_on_close(std::move(f)); });
}

void DeferrableBody::add_filter(Function<std::string(std::string_view, bool)> fn) const {
  if (state_) state_->add_filter(std::move(fn));
}

// ---- Socket

Socket::Socket() noexcept = default;
Socket::Socket(Ref<SocketState> s) noexcept : state_(std::move(s)) {}
Socket::Socket(const Socket& o) noexcept = default;
Socket::Socket(Socket&& o) noexcept = default;
Socket& Socket::operator=(Socket o) noexcept {
  state_ = std::move(o.state_);
  return *this;
}
Socket::~Socket() = default;

bool Socket::write(std::string_view bytes) const {
  return state_ && state_->write(bytes);
}
bool Socket::write_owned(std::string&& bytes) const {
  return state_ && state_->write(std::move(bytes));
}

void Socket::on_data(Function<void(std::string_view)> fn) const {
  if (!state_ || state_->is_closed()) return;
  state_->on_data = std::move(fn);
  if (!state_->early_data.empty()) {
    state_->loop()->next_tick([s = state_] {
      std::string early = std::move(s->early_data);
      s->early_data.clear();
      s->deliver_data(early);
    });
  }
}
void Socket::on_drain(Task fn) const {
  if (state_ && !state_->is_closed()) state_->on_drain = std::move(fn);
}
void Socket::on_close(Function<void(CloseReason)> fn) const {
  if (state_ && !state_->is_closed()) state_->on_close = std::move(fn);
}
void Socket::on_stop(Task fn) const {
  if (state_ && !state_->is_closed()) state_->on_stop = std::move(fn);
}
void Socket::pause() const {
  if (state_) state_->pause(true);
}
void Socket::resume() const {
  if (state_) state_->pause(false);
}
void Socket::close() const {
  if (!state_) return;
  if (state_->home().in_loop_thread())
    state_->close(false);
  else
    state_->home().post([s = state_] { s->close(false); });
}
void Socket::abort() const {
  if (state_) state_->close(true);
}
std::size_t Socket::buffered() const noexcept {
  return state_ ? state_->buffered() : 0;
}
bool Socket::closed() const noexcept {
  return !state_ || state_->is_closed();
}
std::size_t Socket::high_water() const noexcept {
  return state_ ? state_->high_water() : 0;
}
bool Socket::charge(std::ptrdiff_t bytes) const {
  return state_ && state_->charge(bytes);
}
std::size_t Socket::budget() const noexcept {
  return state_ ? state_->budget() : 0;
}
Loop& Socket::loop() const noexcept {
  return *state_->loop();
}

// ---- File, Body

File File::open(const std::string& path, std::error_code& ec) noexcept {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    ec = std::error_code(errno, std::system_category());
    return File();
  }
  ec.clear();
  return File(fd);
}

void File::reset() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::optional<std::uint64_t> Body::size() const noexcept {
  switch (kind()) {
  case Kind::empty:
    return 0;
  case Kind::bytes:
    return std::get<Str>(v_).size();
  case Kind::chunks: {
    std::uint64_t n = 0;
    for (const Str& c : std::get<Chunks>(v_))
      n += c.size();
    return n;
  }
  case Kind::file:
    return std::get<FileRange>(v_).length;
  case Kind::file_parts: {
    const FileParts& f = std::get<FileParts>(v_);
    std::uint64_t n = f.after.size();
    for (const FileParts::Part& p : f.parts)
      n += p.before.size() + p.length;
    return n;
  }
  default:
    return std::nullopt;
  }
}

std::string Body::to_string() const {
  if (const Str* s = get_if<Str>()) return std::string(s->view());
  std::string out;
  if (const Chunks* c = get_if<Chunks>())
    for (const Str& s : *c)
      out.append(s.view());
  return out;
}

} // namespace lithe
