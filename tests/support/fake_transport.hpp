// A Transport with no socket, for the fuzz targets (http_request_fuzz, chunked_fuzz) and the
// engine's unit tests (tests/unit/http_engine_test.cpp), which drive the real HTTP/1.1 engine:
// the harness plays the backend of transport.hpp (SPEC §10), feeding reads and answering
// writes and close, and traps when the engine breaks its side.
#pragma once

#include <lithe/http.hpp>
#include <lithe/lint.hpp>
#include <lithe/log.hpp>
#include <lithe/manual_loop.hpp>
#include <lithe/transport.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lithe::fuzz {

/// The engine broke a promise it makes to its backend (or leaked): a bug, stop here.
[[noreturn]] inline void broken() {
  __builtin_trap();
}

class FakeTransport final : public Transport {
public:
  explicit FakeTransport(ManualLoop& loop) noexcept : loop_(loop) {}

  /// The handler the service returned for this connection; it lives until on_closed.
  void attach(TransportHandler* h) noexcept { handler_ = h; }
  /// try_write takes at most `cap` bytes a call (0: all), so with a cap the background
  /// write() and its on_write_done run too.
  void set_write_cap(std::size_t cap) noexcept { write_cap_ = cap; }
  /// Keep what the engine writes (tests read it back; fuzzing only counts it).
  void set_capture(bool on) noexcept { capture_ = on; }
  /// A background write stays in flight until the harness lets it complete (a peer that
  /// does not read).
  void set_hold_writes(bool on) noexcept { hold_ = on; }
  const std::string& output() const noexcept { return output_; }
  bool paused() const noexcept { return paused_; }
  bool writing() const noexcept { return writing_; }

  Loop& loop() noexcept override { return loop_; }

  std::size_t try_write(const iovec* iov, int iovcnt, std::error_code& ec) noexcept override {
    if (close_called_ || writing_) broken(); // nothing may overtake a background write
    ec.clear();
    std::size_t total = 0;
    for (int i = 0; i < iovcnt; ++i)
      total += iov[i].iov_len;
    std::size_t n = write_cap_ ? std::min(total, write_cap_) : total;
    written_ += n;
    for (int i = 0, left = static_cast<int>(n); capture_ && i < iovcnt && left > 0; ++i) {
      int take = std::min(left, static_cast<int>(iov[i].iov_len));
      output_.append(static_cast<const char*>(iov[i].iov_base), static_cast<std::size_t>(take));
      left -= take;
    }
    return n;
  }

  void write(const iovec* iov, int iovcnt) noexcept override {
    if (close_called_ || writing_ || shut_) broken(); // at most one write in flight
    writing_ = true;
    // Kept to check at completion that the engine left the memory untouched meanwhile.
    in_flight_.assign(iov, iov + iovcnt);
    snapshot_.clear();
    for (const iovec& v : in_flight_)
      snapshot_.append(static_cast<const char*>(v.iov_base), v.iov_len);
  }

  void pause_reading() noexcept override { paused_ = true; }
  void resume_reading() noexcept override { paused_ = false; }

  void shutdown_write() noexcept override {
    if (close_called_ || writing_) broken(); // only once nothing is in flight
    shut_ = true;
  }

  void close() noexcept override {
    if (close_called_) broken();
    close_called_ = true; // on_closed follows from settle(), never from in here
  }

  std::size_t peer_address(char* out, std::size_t cap) const noexcept override {
    constexpr std::string_view addr = "127.0.0.1";
    std::size_t n = std::min(cap, addr.size());
    std::memcpy(out, addr.data(), n);
    return n;
  }

  // The backend's side, called by the harness.

  /// Not closed by either side yet.
  bool open() const noexcept { return handler_ != nullptr && !close_called_; }
  /// Open, reading not paused, and no EOF sent.
  bool readable() const noexcept { return open() && !paused_ && !eof_; }
  bool eof_sent() const noexcept { return eof_; }
  std::size_t written() const noexcept { return written_; }

  void read(std::string_view bytes) { handler_->on_read(bytes.data(), bytes.size()); }
  void eof() {
    eof_ = true;
    handler_->on_eof();
  }
  void stop() { handler_->on_stop(); }

  /// Runs the loop's ready work and answers the engine: completes a background write, or
  /// follows close() with on_closed. Returns once nothing is left to answer.
  void settle() {
    for (;;) {
      loop_.run_ready();
      if (!handler_) return;
      if (close_called_) {
        closed(CloseReason::done);
        continue;
      }
      if (!writing_ || hold_) return;
      complete_write();
    }
  }

  /// Lets a held background write complete (the peer read it).
  void release_write() {
    if (writing_) complete_write();
  }

  /// Ends the connection from the backend's side (a reset, or the stop deadline), unless
  /// it already ended.
  void reset() {
    if (handler_) closed(close_called_ ? CloseReason::done : CloseReason::client_gone);
  }

private:
  void complete_write() {
    std::size_t at = 0;
    for (const iovec& v : in_flight_) {
      if (std::memcmp(v.iov_base, snapshot_.data() + at, v.iov_len) != 0) broken();
      at += v.iov_len;
    }
    written_ += at;
    if (capture_) output_ += snapshot_;
    writing_ = false;
    handler_->on_write_done({});
  }

  void closed(CloseReason why) {
    TransportHandler* h = std::exchange(handler_, nullptr); // the last call: it frees itself
    writing_ = false;
    h->on_closed(why);
  }

  ManualLoop& loop_;
  TransportHandler* handler_ = nullptr;
  std::size_t write_cap_ = 0;
  std::size_t written_ = 0;
  std::string output_;
  bool capture_ = false;
  bool hold_ = false;
  std::vector<iovec> in_flight_;
  std::string snapshot_;
  bool writing_ = false;
  bool paused_ = false;
  bool shut_ = false;
  bool eof_ = false;
  bool close_called_ = false;
};

/// Timeouts of a few virtual seconds, each different, so an input can reach every one of them
/// and the harness's run-out (EngineHarness::finish) ends them all.
inline void short_timeouts(HttpOptions& o) {
  o.header_timeout = Millis(1000);
  o.body_timeout = Millis(1500);
  o.idle_timeout = Millis(2000);
  o.send_timeout = Millis(3000);
}

/// How the harness ends a connection the engine has not closed by itself.
enum class Ending { eof, timeouts, stop, reset };

/// One connection through the real engine (http_service) on a ManualLoop: feeds pieces,
/// ends it, and checks that nothing of it is left afterwards (SPEC §6.4's counters).
class EngineHarness {
public:
  EngineHarness(App app, HttpOptions options, std::size_t write_cap)
      : service_(http_service(std::move(app), std::move(options))(loop_, ListenInfo{.port = 8080})),
        t_(loop_) {
    quiet_error_log();
    t_.set_write_cap(write_cap);
    ManualLoop::Scope scope(loop_);
    t_.attach(service_->accept(t_));
    t_.settle();
  }
  ~EngineHarness() {
    if (t_.open()) finish(Ending::reset);
  }
  EngineHarness(const EngineHarness&) = delete;
  EngineHarness& operator=(const EngineHarness&) = delete;

  ManualLoop& loop() noexcept { return loop_; }
  FakeTransport& transport() noexcept { return t_; }

  /// Delivers the pieces as separate reads, running the loop after each. A paused reader
  /// gets some virtual time to answer first; if it stays paused the rest is not sent.
  void feed(const std::vector<std::string_view>& pieces) {
    ManualLoop::Scope scope(loop_);
    for (std::string_view piece : pieces) {
      for (int i = 0; i < 4 && t_.open() && !t_.readable() && !t_.eof_sent(); ++i) {
        loop_.advance(Millis(20));
        t_.settle();
      }
      if (!t_.readable()) return;
      t_.read(piece);
      t_.settle();
    }
  }

  /// Ends the connection `how`, lets virtual time run out every timer, closes what is still
  /// open, and checks the worker's counters are back to zero.
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
    // Every timeout in the options the targets use is under 10 s; lingering is 2 s.
    for (int i = 0; i < 60 && t_.open(); ++i) {
      loop_.advance(Millis(250));
      t_.settle();
    }
    t_.reset();
    t_.settle();
    loop_.advance(Millis(1000)); // the app's own late work (timers holding handles) runs out
    WorkerStats s = service_->stats();
    if (service_->connections() != 0 || s.connections != 0 || s.exchanges != 0 || s.awaiting != 0 ||
        s.bodies != 0 || s.sockets != 0) {
      std::fprintf(stderr,
                   "left alive: connections %zu/%ld exchanges %ld awaiting %ld bodies %ld "
                   "sockets %ld\n",
                   service_->connections(), s.connections, s.exchanges, s.awaiting, s.bodies,
                   s.sockets);
      broken();
    }
  }

  /// With LITHE_FUZZ_LINT_TRAP set, a Lint violation (an env the engine built that breaks
  /// SPEC §2, or a response of the target's app) is a crash; otherwise it is only counted.
  static void check_lint(std::size_t before) {
    static const bool trap = std::getenv("LITHE_FUZZ_LINT_TRAP") != nullptr;
    if (trap && lint_violation_count() != before) broken();
  }

private:
  static void quiet_error_log() {
    // The engine logs every refused request; at thousands per second that is noise.
    static const bool once = [] {
      if (!std::getenv("LITHE_FUZZ_LOG")) set_error_log([](std::string_view) {});
      return true;
    }();
    (void)once;
  }

  ManualLoop loop_;
  std::unique_ptr<Service> service_; // destroyed before the loop it cancels its timer on
  FakeTransport t_;
};

} // namespace lithe::fuzz
