// What the two TLS targets (tls_fuzz, tls_record_fuzz) share: a certificate made in-process,
// the HTTP engine behind lithe::tls_service on a fake transport and a ManualLoop, a hook on
// the plaintext transport the engine sees (to pause, resume and read TlsConnection::memory()),
// and the end of every run: the connection gone and the worker's counters back to zero.
#pragma once

#include "fake_transport.hpp"
#include "test_cert.hpp"

#include <lithe/lithe.hpp>
#include <lithe/tls.hpp>

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <unistd.h>

namespace lithe::fuzz {

/// A self-signed ECDSA P-256 certificate for localhost, written once to a temporary folder
/// (TlsContext reads files), and the context every run shares.
inline std::shared_ptr<TlsContext> fuzz_tls_context() {
  static std::shared_ptr<TlsContext> ctx = [] {
    char dir[] = "/tmp/lithe-tls-fuzz-XXXXXX";
    if (!::mkdtemp(dir)) std::abort();
    std::string cert = std::string(dir) + "/cert.pem", key = std::string(dir) + "/key.pem";
    if (!test::write_self_signed_cert(cert, key)) std::abort();
    TlsOptions o;
    o.certificates = {{.cert_file = cert, .key_file = key}};
    o.handshake_timeout = Millis(1000);
    std::string error;
    auto c = TlsContext::create(o, error);
    ::unlink(cert.c_str());
    ::unlink(key.c_str());
    ::rmdir(dir);
    if (!c) {
      std::fprintf(stderr, "tls fuzz: %s\n", error.c_str());
      std::abort();
    }
    return c;
  }();
  return ctx;
}

/// The engine's service with a hook: remembers the transport the engine was given (the TLS
/// connection, as a Transport) until the connection is closed.
class HookService final : public Service {
public:
  HookService(std::unique_ptr<Service> inner, Transport** seen)
      : inner_(std::move(inner)), seen_(seen) {}
  TransportHandler* accept(Transport& t) override {
    *seen_ = &t;
    return inner_->accept(t);
  }
  void stop() override { inner_->stop(); }
  std::size_t connections() const noexcept override { return inner_->connections(); }
  WorkerStats stats() const noexcept override { return inner_->stats(); }

private:
  std::unique_ptr<Service> inner_;
  Transport** seen_;
};

inline Response tls_fuzz_app(Env& env) {
  const Headers plain = {{"Content-Type", "text/plain"}};
  if (env.path() == "/big") return {200, plain, std::string(70 * 1024, 'b')};
  return {200, plain,
          std::string(env.url_scheme()) + " " + std::string(env.path()) + " " +
              std::to_string(env.body().size()) + "\n"};
}

/// One TLS connection to the engine: the fake transport plays the backend (ciphertext).
class TlsHarness {
public:
  explicit TlsHarness(std::size_t write_cap, bool small_high_water) {
    static const bool quiet = [] {
      if (!std::getenv("LITHE_FUZZ_LOG")) set_error_log([](std::string_view) {});
      return true;
    }();
    (void)quiet;
    HttpOptions o;
    short_timeouts(o);
    if (small_high_water) o.high_water = 8 * 1024;
    auto inner = http_service(tls_fuzz_app, std::move(o));
    Transport** seen = &plain_;
    ServiceFactory hooked = [inner, seen](Loop& loop, const ListenInfo& info) {
      return std::unique_ptr<Service>(std::make_unique<HookService>(inner(loop, info), seen));
    };
    service_ = tls_service(std::move(hooked), fuzz_tls_context())(loop_, ListenInfo{.port = 8443});
    t_.set_write_cap(write_cap);
    t_.set_capture(true);
    ManualLoop::Scope scope(loop_);
    t_.attach(service_->accept(t_));
    t_.settle();
  }
  ~TlsHarness() {
    if (t_.open()) finish(Ending::reset);
  }
  TlsHarness(const TlsHarness&) = delete;
  TlsHarness& operator=(const TlsHarness&) = delete;

  ManualLoop& loop() noexcept { return loop_; }
  FakeTransport& transport() noexcept { return t_; }

  /// The TLS layer's own memory stays within what docs/tls.md promises (kept input 256 KiB,
  /// unsent ciphertext about 4 records) whatever the peer sends.
  void check_memory() {
    if (plain_ && service_->connections() > 0 && plain_->memory() > 512 * 1024) {
      std::fprintf(stderr, "TLS connection holds %zu bytes\n", plain_->memory());
      broken();
    }
  }

  /// The engine's side: pause or resume reading on the TLS connection, as the engine does
  /// when its output is past the high-water mark.
  void pause(bool on) {
    if (!plain_ || service_->connections() == 0) return;
    ManualLoop::Scope scope(loop_);
    if (on)
      plain_->pause_reading();
    else
      plain_->resume_reading();
    t_.settle();
  }

  /// A peer that stops reading: the background write stays in flight until `on` is false.
  void hold_writes(bool on) {
    ManualLoop::Scope scope(loop_);
    t_.set_hold_writes(on);
    if (!on) {
      t_.release_write();
      t_.settle();
    }
  }

  /// One read of ciphertext from the backend, if the layer reads; the loop run after it.
  bool read(std::string_view bytes) {
    ManualLoop::Scope scope(loop_);
    for (int i = 0; i < 4 && t_.open() && !t_.readable() && !t_.eof_sent(); ++i) {
      loop_.advance(Millis(20));
      t_.settle();
    }
    if (!t_.readable()) return false;
    t_.read(bytes);
    t_.settle();
    check_memory();
    return true;
  }

  void advance(Millis ms) {
    ManualLoop::Scope scope(loop_);
    loop_.advance(ms);
    t_.settle();
  }

  /// Ends the connection `how`, runs every timer out, and checks nothing is left.
  void finish(Ending how) {
    ManualLoop::Scope scope(loop_);
    if (t_.open()) {
      switch (how) {
      case Ending::eof:
        if (!t_.eof_sent()) t_.eof();
        break;
      case Ending::timeouts:
        break;
      case Ending::stop:
        service_->stop();
        t_.stop();
        break;
      case Ending::reset:
        t_.reset();
        break;
      }
    }
    t_.settle();
    if (std::getenv("LITHE_FUZZ_LOG"))
      std::fprintf(stderr, "tls fuzz: server sent %zu bytes\n", t_.written());
    // The handshake timeout is 1 s, the engine's under 10 s, a draining close bounded too.
    for (int i = 0; i < 80 && t_.open(); ++i) {
      loop_.advance(Millis(250));
      t_.settle();
    }
    if (t_.open() && how == Ending::timeouts) {
      std::fprintf(stderr, "TLS connection still open after 20 s of virtual time\n");
      broken();
    }
    t_.reset();
    t_.settle();
    loop_.advance(Millis(1000));
    WorkerStats s = service_->stats();
    if (service_->connections() != 0 || s.connections != 0 || s.exchanges != 0 || s.awaiting != 0 ||
        s.bodies != 0 || s.sockets != 0) {
      std::fprintf(stderr, "left alive: connections %zu/%ld exchanges %ld\n",
                   service_->connections(), s.connections, s.exchanges);
      broken();
    }
    plain_ = nullptr;
  }

private:
  ManualLoop loop_;
  Transport* plain_ = nullptr; // the TLS connection as the engine sees it
  std::unique_ptr<Service> service_;
  FakeTransport t_{loop_};
};

} // namespace lithe::fuzz
