// TlsConnection and TlsService: TLS between a backend's transport and the engine (SPEC §12).
// Ciphertext in: the backend's bytes go to OpenSSL through our BIO without a copy, and what a
// paused engine cannot take yet is kept. Ciphertext out: records made within one call collect
// in the worker's scratch buffer and leave in one write; only what the socket refuses is kept
// by the connection, at most a few records, behind one background write.
#include "tls_connection.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <lithe/log.hpp>

#include <cstring>
#include <new>

namespace lithe::tls {

namespace {

constexpr std::size_t max_kept_input = 256 * 1024;      // a paused engine's unread ciphertext
constexpr std::size_t records_per_write = 4;            // records joined into one socket write
constexpr std::size_t direct_write = 4096;              // larger pieces are encrypted in place
constexpr std::chrono::milliseconds drain_bound{5'000}; // close(): ciphertext still leaving

BIO_METHOD* bio_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "lithe transport");
    BIO_meth_set_write(m, [](BIO* b, const char* data, int len) -> int {
      if (len <= 0) return 0;
      static_cast<TlsConnection*>(BIO_get_data(b))->bio_write(data, static_cast<std::size_t>(len));
      return len;
    });
    BIO_meth_set_read(m, [](BIO* b, char* out, int len) -> int {
      BIO_clear_retry_flags(b);
      int n = static_cast<TlsConnection*>(BIO_get_data(b))->bio_read(out, len);
      if (n > 0) return n;
      BIO_set_retry_read(b);
      return -1;
    });
    BIO_meth_set_ctrl(
        m, [](BIO*, int cmd, long, void*) -> long { return cmd == BIO_CTRL_FLUSH ? 1 : 0; });
    BIO_meth_set_create(m, [](BIO* b) -> int {
      BIO_set_init(b, 1);
      return 1;
    });
    return m;
  }();
  return method;
}

// RFC 9110 §15.5.1: a plain request on the TLS port gets a readable answer, not silence.
constexpr char plain_http_answer[] = "HTTP/1.1 400 Bad Request\r\n"
                                     "Content-Type: text/plain\r\n"
                                     "Content-Length: 43\r\n"
                                     "Connection: close\r\n"
                                     "\r\n"
                                     "This port speaks HTTPS: use an https:// URL\n";

} // namespace

// ---- TlsConnection

TlsConnection::TlsConnection(TlsService& svc, Transport& raw, SSL* ssl,
                             std::shared_ptr<const CertSet> set) noexcept
    : svc_(svc), raw_(raw), ssl_(ssl), set_(std::move(set)) {
  BIO* bio = BIO_new(bio_method());
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_, bio, bio); // one BIO both ways: SSL_free frees it
  SSL_set_accept_state(ssl_);
}

TlsConnection::~TlsConnection() {
  SSL_free(ssl_);
}

void TlsConnection::start(TransportHandler* inner, std::chrono::milliseconds handshake_timeout) {
  inner_ = inner;
  if (mode_ == Mode::closed) return; // the inner service closed it at once (stopping)
  timer_ = loop().add_timer(handshake_timeout, [this] {
    timer_ = 0;
    fail(CloseReason::timeout);
  });
}

void TlsConnection::cancel_timer() {
  if (timer_) loop().cancel_timer(std::exchange(timer_, 0));
}

void TlsConnection::fail(CloseReason why) {
  if (mode_ == Mode::closed) return;
  mode_ = Mode::closed;
  reason_ = why;
  cancel_timer();
  raw_.close();
}

std::size_t TlsConnection::memory() const noexcept {
  // OpenSSL's own record buffers (about 34 KiB while a record is in progress, none while
  // idle: SSL_MODE_RELEASE_BUFFERS) are a fixed cost per connection, documented, not counted.
  return in_keep_.capacity() + out_.capacity() + sending_.capacity() +
         app_iov_.capacity() * sizeof(iovec);
}

std::string TlsConnection::tls_info(std::string_view name) const {
  if (mode_ != Mode::open) return {};
  auto text = [](const char* s) { return std::string(s ? s : ""); };
  if (name == "protocol") return text(SSL_get_version(ssl_));
  if (name == "cipher") return text(SSL_get_cipher_name(ssl_));
  if (name == "sni") return text(SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name));
  if (name == "alpn") {
    const unsigned char* p = nullptr;
    unsigned n = 0;
    SSL_get0_alpn_selected(ssl_, &p, &n);
    return p ? std::string(reinterpret_cast<const char*>(p), n) : std::string();
  }
  X509* peer = SSL_get0_peer_certificate(ssl_);
  if (name == "client_verify")
    return !peer ? "NONE" : SSL_get_verify_result(ssl_) == X509_V_OK ? "SUCCESS" : "FAILED";
  if (!peer) return {};
  BIO* mem = BIO_new(BIO_s_mem());
  if (name == "client_subject")
    X509_NAME_print_ex(mem, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253);
  else if (name == "client_issuer")
    X509_NAME_print_ex(mem, X509_get_issuer_name(peer), 0, XN_FLAG_RFC2253);
  else if (name == "client_cert")
    PEM_write_bio_X509(mem, peer);
  char* data = nullptr;
  long len = BIO_get_mem_data(mem, &data);
  std::string out(data ? data : "", len > 0 ? static_cast<std::size_t>(len) : 0);
  BIO_free(mem);
  return out;
}

// ---- Input

int TlsConnection::bio_read(char* out, int len) noexcept {
  std::size_t n = std::min(in_len_, static_cast<std::size_t>(len));
  if (n == 0) return 0;
  std::memcpy(out, in_ptr_, n);
  in_ptr_ += n;
  in_len_ -= n;
  return static_cast<int>(n);
}

void TlsConnection::on_read(const char* data, std::size_t len) {
  if (mode_ == Mode::closed || closing_ || len == 0) return;
  if (mode_ == Mode::refused) return; // read and dropped until the peer's FIN or the timer
  if (!seen_bytes_) {
    seen_bytes_ = true;
    // A TLS connection opens with a handshake record (0x16); a letter is a plain request.
    if (data[0] >= 'A' && data[0] <= 'Z') {
      refuse_plain_http();
      return;
    }
  }
  if (!in_keep_.empty() || paused_) {
    // Behind bytes kept earlier, in order. The engine paused reading, so little can come.
    if (in_keep_.size() + len > max_kept_input) {
      fail(CloseReason::error);
      return;
    }
    in_keep_.append(data, len);
    if (!paused_) run_deferred();
    return;
  }
  in_ptr_ = data;
  in_len_ = len;
  process();
  if (in_len_ > 0 && mode_ != Mode::closed && !closing_) in_keep_.assign(in_ptr_, in_len_);
  in_ptr_ = nullptr;
  in_len_ = 0;
}

void TlsConnection::process() {
  if (mode_ == Mode::handshake && !handshake()) return;
  if (mode_ == Mode::open) read_records();
}

bool TlsConnection::handshake() {
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_);
  push_out(); // our flight, or an alert
  if (r == 1) {
    mode_ = Mode::open;
    cancel_timer();
    if (app_writing_) {
      if (pump_write()) {
        notify_write_ = true;
        defer_work();
      }
    }
    return mode_ == Mode::open;
  }
  int e = SSL_get_error(ssl_, r);
  if (e == SSL_ERROR_WANT_READ) return false;
  // Garbage, a version or cipher we do not speak, a bad certificate: OpenSSL queued its
  // alert above; the connection ends here without a word to the engine, which never saw it.
  ERR_clear_error();
  fail(CloseReason::error);
  return false;
}

void TlsConnection::read_records() {
  // The error queue is left empty after every failure, so no ERR_clear_error() per call
  // (a tenth of the layer's instructions per request); and "needs more bytes" is read from the
  // session itself (SSL_want_read), which a stale error elsewhere on this thread cannot hide.
  while (mode_ == Mode::open && !paused_ && !closing_) {
    int n = SSL_read(ssl_, svc_.plain(), static_cast<int>(TlsService::record));
    if (n > 0) {
      push_out(); // whatever reading made (a KeyUpdate's answer) goes before the engine writes
      inner_->on_read(svc_.plain(), static_cast<std::size_t>(n));
      continue;
    }
    push_out();
    if (SSL_want_read(ssl_)) break;
    int e = SSL_get_error(ssl_, n);
    if (e == SSL_ERROR_WANT_READ) break;
    if (e == SSL_ERROR_ZERO_RETURN) { // close_notify: the peer's end of data
      eof_ = true;
      break;
    }
    ERR_clear_error();
    fail(CloseReason::error); // a forged or broken record, a renegotiation attempt
    return;
  }
  if (eof_ && in_len_ == 0 && in_keep_.empty() && !paused_ && !SSL_has_pending(ssl_)) deliver_eof();
}

void TlsConnection::deliver_eof() {
  if (eof_delivered_ || closing_ || mode_ != Mode::open) return;
  eof_delivered_ = true;
  inner_->on_eof();
}

void TlsConnection::on_eof() {
  eof_ = true;
  if (mode_ == Mode::handshake) {
    fail(CloseReason::client_gone); // left before the handshake ended
    return;
  }
  if (mode_ == Mode::refused) {
    fail(CloseReason::done);
    return;
  }
  if (mode_ == Mode::closed || closing_) return;
  // Decrypted bytes still wait for a paused engine: the end of data comes after them.
  if (paused_ || !in_keep_.empty() || SSL_has_pending(ssl_)) return;
  deliver_eof();
}

void TlsConnection::pause_reading() noexcept {
  if (paused_) return;
  paused_ = true;
  if (mode_ != Mode::closed && !closing_) raw_.pause_reading();
}

void TlsConnection::resume_reading() noexcept {
  if (!paused_) return;
  paused_ = false;
  if (mode_ == Mode::closed || closing_) return;
  raw_.resume_reading();
  // What OpenSSL or we still hold raises no read event: it is handed over on the next tick.
  if (!in_keep_.empty() || SSL_has_pending(ssl_) || (eof_ && !eof_delivered_)) defer_work();
}

void TlsConnection::defer_work() {
  svc_.schedule(this);
}

void TlsConnection::run_deferred() {
  if (notify_write_) {
    notify_write_ = false;
    app_writing_ = false;
    if (mode_ != Mode::closed && !closing_) inner_->on_write_done(write_error_);
  }
  if (mode_ != Mode::open || closing_ || paused_) return;
  if (!in_keep_.empty()) {
    in_ptr_ = in_keep_.data();
    in_len_ = in_keep_.size();
    process();
    std::size_t used = in_keep_.size() - in_len_;
    in_ptr_ = nullptr;
    in_len_ = 0;
    if (used == in_keep_.size())
      std::string().swap(in_keep_);
    else
      in_keep_.erase(0, used);
  } else {
    read_records();
  }
}

void TlsConnection::refuse_plain_http() {
  mode_ = Mode::refused; // the handshake timer still bounds it
  std::error_code ec;
  iovec v{const_cast<char*>(plain_http_answer), sizeof plain_http_answer - 1};
  raw_.try_write(&v, 1, ec); // a fresh socket takes these few bytes
  if (ec) {
    fail(CloseReason::client_gone);
    return;
  }
  raw_.shutdown_write();
}

// ---- Output

void TlsConnection::bio_write(const char* data, std::size_t len) {
  if (!raw_busy_ && out_.empty()) {
    svc_.scratch_owner = this;
    svc_.scratch().append(data, len);
  } else {
    out_.append(data, len);
  }
}

void TlsConnection::push_out() {
  if (raw_busy_) return; // on_write_done sends the rest
  std::string* src = nullptr;
  if (!out_.empty())
    src = &out_;
  else if (svc_.scratch_owner == this && !svc_.scratch().empty())
    src = &svc_.scratch();
  if (!src) {
    drained();
    return;
  }
  if (src == &svc_.scratch()) svc_.scratch_owner = nullptr;
  // Nothing more can go: the socket failed, is closed, or our FIN went (a KeyUpdate's answer
  // to a record that came after it, say): what is left is dropped, as it is once sent.
  if (write_error_ || mode_ == Mode::closed || fin_sent_) {
    src->clear();
    if (mode_ != Mode::closed) drained();
    return;
  }
  std::error_code ec;
  iovec v{src->data(), src->size()};
  std::size_t n = raw_.try_write(&v, 1, ec);
  if (ec) {
    write_error_ = ec;
    src->clear();
    drained(); // a close waiting for this ends now
    return;
  }
  if (n == src->size()) {
    src->clear();
    if (src == &out_ && out_.capacity() > TlsService::record) std::string().swap(out_);
    drained();
    return;
  }
  // The socket is full: the rest leaves in the background; newer records queue in out_.
  if (src == &out_) {
    sending_.swap(out_);
    out_.clear();
  } else {
    sending_.assign(*src, 0, src->size());
    src->clear();
  }
  raw_busy_ = true;
  iovec rest{sending_.data() + n, sending_.size() - n};
  raw_.write(&rest, 1);
}

void TlsConnection::drained() {
  if (closing_) {
    fail(reason_);
    return;
  }
  if (shut_raw_ && mode_ != Mode::closed) {
    shut_raw_ = false;
    fin_sent_ = true;
    if (!write_error_) raw_.shutdown_write();
  }
}

std::size_t TlsConnection::encrypt(const iovec* iov, int cnt, std::size_t skip,
                                   std::error_code& ec) {
  // Find where to start.
  int i = 0;
  std::size_t off = skip;
  while (i < cnt && off >= iov[i].iov_len) {
    off -= iov[i].iov_len;
    ++i;
  }
  std::size_t total = 0, records = 0;
  while (i < cnt && !raw_busy_) {
    const char* p;
    std::size_t len;
    std::size_t left = iov[i].iov_len - off;
    if (left >= direct_write) { // a large piece: its own records, encrypted where it lies
      p = static_cast<const char*>(iov[i].iov_base) + off;
      len = std::min(left, TlsService::record);
      off += len;
      if (off == iov[i].iov_len) ++i, off = 0;
    } else { // small pieces (a head, chunk framing): joined into one record
      char* stage = svc_.staging();
      len = 0;
      while (i < cnt && len < TlsService::record) {
        std::size_t take = std::min(iov[i].iov_len - off, TlsService::record - len);
        std::memcpy(stage + len, static_cast<const char*>(iov[i].iov_base) + off, take);
        len += take;
        off += take;
        if (off == iov[i].iov_len) ++i, off = 0;
      }
      p = stage;
    }
    if (len == 0) continue;
    // Our BIO takes every byte, so SSL_write fails only for good (the session is broken).
    int w = SSL_write(ssl_, p, static_cast<int>(len));
    if (w <= 0) {
      ERR_clear_error();
      write_error_ = ec = std::make_error_code(std::errc::io_error);
      push_out();
      return total;
    }
    total += len;
    if (++records == records_per_write) {
      push_out();
      records = 0;
    }
  }
  push_out();
  return total;
}

std::size_t TlsConnection::try_write(const iovec* iov, int iovcnt, std::error_code& ec) noexcept {
  if (write_error_) {
    ec = write_error_;
    return 0;
  }
  if (mode_ == Mode::closed || closing_ || shut_) {
    ec = std::make_error_code(std::errc::broken_pipe);
    return 0;
  }
  if (mode_ != Mode::open || raw_busy_ || app_writing_) return 0;
  std::size_t n = encrypt(iov, iovcnt, 0, ec);
  if (write_error_) ec = write_error_;
  return n;
}

bool TlsConnection::pump_write() {
  std::error_code ec;
  app_done_ += encrypt(app_iov_.data(), static_cast<int>(app_iov_.size()), app_done_, ec);
  return write_error_ || (app_done_ == app_total_ && !raw_busy_);
}

void TlsConnection::write(const iovec* iov, int iovcnt) noexcept {
  app_iov_.assign(iov, iov + iovcnt);
  app_done_ = 0;
  app_total_ = 0;
  for (int i = 0; i < iovcnt; ++i)
    app_total_ += iov[i].iov_len;
  app_writing_ = true;
  // Done at once (all encrypted and taken, or failed): reported on the next tick, never
  // from inside this call. Otherwise the handshake's end or on_write_done continues it.
  if (write_error_ || mode_ == Mode::closed ||
      (mode_ == Mode::open && !raw_busy_ && pump_write())) {
    if (!write_error_ && mode_ == Mode::closed)
      write_error_ = std::make_error_code(std::errc::broken_pipe);
    notify_write_ = true;
    defer_work();
  }
}

void TlsConnection::on_write_done(std::error_code ec) {
  raw_busy_ = false;
  if (sending_.capacity() > 4 * TlsService::record)
    std::string().swap(sending_);
  else
    sending_.clear();
  if (mode_ == Mode::closed) return;
  if (ec) {
    write_error_ = ec;
    out_.clear();
    if (closing_) {
      fail(CloseReason::client_gone);
      return;
    }
    if (app_writing_ && !notify_write_) {
      app_writing_ = false;
      inner_->on_write_done(ec);
    }
    return;
  }
  push_out(); // what queued meanwhile
  if (raw_busy_ || mode_ == Mode::closed || closing_) return;
  if (app_writing_ && !notify_write_ && pump_write()) {
    app_writing_ = false;
    inner_->on_write_done(write_error_);
  }
}

void TlsConnection::shutdown_write() noexcept {
  if (mode_ == Mode::closed || closing_ || shut_) return;
  shut_ = true;
  if (mode_ == Mode::open) {
    ERR_clear_error();
    SSL_shutdown(ssl_); // close_notify (RFC 8446 §6.1), behind everything sent before it
    ERR_clear_error();
  }
  shut_raw_ = true;
  push_out();
}

void TlsConnection::close() noexcept {
  if (mode_ == Mode::closed || closing_) return;
  closing_ = true;
  app_writing_ = notify_write_ = false;
  if (mode_ == Mode::open && !shut_ && !write_error_) {
    shut_ = true;
    ERR_clear_error();
    SSL_shutdown(ssl_);
    ERR_clear_error();
  }
  push_out(); // closes now if nothing is left to send (or it cannot be sent)
  if (mode_ == Mode::closed) return;
  if (!raw_busy_) {
    fail(reason_);
    return;
  }
  // Ciphertext the engine counts as sent is still leaving (the kernel would send a plain
  // socket's after close too): close once it is out, or after a bound.
  raw_.pause_reading();
  cancel_timer();
  timer_ = loop().add_timer(drain_bound, [this] {
    timer_ = 0;
    fail(CloseReason::timeout);
  });
}

void TlsConnection::abort() noexcept {
  if (mode_ == Mode::closed) return;
  closing_ = true;
  app_writing_ = notify_write_ = false;
  // The peer stopped reading, left, or broke the protocol: nothing more is owed to it. A
  // close_notify goes only if the socket takes it now.
  if (mode_ == Mode::open && !shut_ && !write_error_ && !raw_busy_) {
    shut_ = true;
    SSL_shutdown(ssl_);
    ERR_clear_error();
    push_out();
  }
  fail(reason_);
}

// ---- The end

void TlsConnection::on_stop() {
  if (mode_ == Mode::closed || closing_) return;
  if (mode_ != Mode::open) {
    fail(CloseReason::server_stopping);
    return;
  }
  inner_->on_stop();
}

void TlsConnection::on_closed(CloseReason reason) {
  cancel_timer();
  svc_.unschedule(this);
  if (svc_.scratch_owner == this) {
    svc_.scratch().clear();
    svc_.scratch_owner = nullptr;
  }
  bool ours = mode_ == Mode::closed && reason_ != CloseReason::done;
  mode_ = Mode::closed;
  std::unique_ptr<TlsConnection> self(this);
  if (inner_) inner_->on_closed(ours ? reason_ : reason);
}

// ---- TlsService

TlsService::TlsService(Loop& loop, std::unique_ptr<Service> inner, std::shared_ptr<TlsContext> tls)
    : loop_(loop), inner_(std::move(inner)), tls_(std::move(tls)), plain_(new char[record]),
      staging_(new char[record]) {
  set_ = TlsContextAccess::current(*tls_);
  generation_ = tls_->generation();
  timeout_ = TlsContextAccess::handshake_timeout(*tls_);
}

TlsService::~TlsService() = default;

TransportHandler* TlsService::accept(Transport& transport) {
  if (std::uint64_t g = tls_->generation(); g != generation_) { // reloaded (SIGHUP)
    set_ = TlsContextAccess::current(*tls_);
    generation_ = g;
  }
  SSL* ssl = SSL_new(set_->ctxs[0]);
  if (!ssl) throw std::bad_alloc();
  auto conn = std::make_unique<TlsConnection>(*this, transport, ssl, set_);
  TlsConnection* c = conn.release(); // frees itself in on_closed
  c->start(inner_->accept(*c), timeout_);
  return c;
}

void TlsService::schedule(TlsConnection* c) {
  if (c->deferred_listed) return;
  c->deferred_listed = true;
  deferred_.push_back(c);
  if (tick_scheduled_) return;
  tick_scheduled_ = true;
  loop_.next_tick([this] {
    tick_scheduled_ = false;
    running_.swap(deferred_);
    for (std::size_t i = 0; i < running_.size(); ++i) {
      TlsConnection* conn = running_[i];
      if (!conn) continue;
      conn->deferred_listed = false;
      conn->run_deferred();
    }
    running_.clear();
  });
}

void TlsService::unschedule(TlsConnection* c) noexcept {
  if (!c->deferred_listed) return;
  c->deferred_listed = false;
  for (TlsConnection*& p : deferred_)
    if (p == c) p = nullptr;
  for (TlsConnection*& p : running_)
    if (p == c) p = nullptr;
}

} // namespace lithe::tls

namespace lithe {

ServiceFactory tls_service(ServiceFactory inner, std::shared_ptr<TlsContext> tls) {
  return [inner = std::move(inner),
          tls = std::move(tls)](Loop& loop, const ListenInfo& listen) -> std::unique_ptr<Service> {
    ListenInfo plain = listen;
    plain.tls = true;
    return std::make_unique<tls::TlsService>(loop, inner(loop, plain), tls);
  };
}

} // namespace lithe
