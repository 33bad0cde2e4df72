// One TLS session between a backend's Transport (ciphertext) and the service above it
// (plaintext): a Transport to the engine and a TransportHandler to the backend. OpenSSL reads
// and writes through a BIO of ours, so no bytes are copied into OpenSSL's memory BIOs and any
// backend works. docs/tls.md tells what it holds per connection and for how long.
#pragma once

#include "cert_set.hpp"

#include <lithe/detail/intrusive_list.hpp>
#include <lithe/small_vector.hpp>
#include <lithe/transport.hpp>

#include <memory>
#include <string>
#include <vector>

namespace lithe::tls {

class TlsService;

class TlsConnection final : public Transport, public TransportHandler {
public:
  TlsConnection(TlsService& svc, Transport& raw, SSL* ssl,
                std::shared_ptr<const CertSet> set) noexcept;
  ~TlsConnection();
  TlsConnection(const TlsConnection&) = delete;
  TlsConnection& operator=(const TlsConnection&) = delete;

  void start(TransportHandler* inner, std::chrono::milliseconds handshake_timeout);

  // Transport: what the engine calls (plaintext).
  Loop& loop() noexcept override { return raw_.loop(); }
  std::size_t try_write(const iovec* iov, int iovcnt, std::error_code& ec) noexcept override;
  void write(const iovec* iov, int iovcnt) noexcept override;
  void pause_reading() noexcept override;
  void resume_reading() noexcept override;
  void shutdown_write() noexcept override;
  void close() noexcept override;
  void abort() noexcept override;
  std::size_t peer_address(char* out, std::size_t cap) const noexcept override {
    return raw_.peer_address(out, cap);
  }
  std::size_t memory() const noexcept override;
  std::string tls_info(std::string_view name) const override;

  // TransportHandler: what the backend calls (ciphertext).
  void on_read(const char* data, std::size_t len) override;
  void on_eof() override;
  void on_write_done(std::error_code ec) override;
  void on_closed(CloseReason reason) override;
  void on_stop() override;

  // The BIO's two ends.
  int bio_read(char* out, int len) noexcept;
  void bio_write(const char* data, std::size_t len);

  // Work the service runs on the next tick (TlsService::schedule).
  void run_deferred();
  bool deferred_listed = false;

private:
  enum class Mode : std::uint8_t { handshake, open, refused, closed };

  void process();
  bool handshake();
  void read_records();
  void deliver_eof();
  std::size_t encrypt(const iovec* iov, int cnt, std::size_t skip, std::error_code& ec);
  bool pump_write();
  void push_out();
  void drained();
  void refuse_plain_http();
  void fail(CloseReason why);
  void finish_close();
  void defer_work();
  void cancel_timer();

  TlsService& svc_;
  Transport& raw_;
  TransportHandler* inner_ = nullptr;
  SSL* ssl_;
  std::shared_ptr<const CertSet> set_; // keeps this connection's SSL_CTX alive over reloads

  const char* in_ptr_ = nullptr; // ciphertext the BIO hands OpenSSL, during process()
  std::size_t in_len_ = 0;
  std::string in_keep_;        // ciphertext that came while the engine paused reading
  std::string out_;            // ciphertext waiting behind a background write
  std::string sending_;        // ciphertext a background write points into
  std::vector<iovec> app_iov_; // the engine's background write
  std::size_t app_done_ = 0;   // bytes of it encrypted
  std::size_t app_total_ = 0;
  std::error_code write_error_;
  TimerId timer_ = 0; // the handshake timeout, or the bound on a draining close
  CloseReason reason_ = CloseReason::done;
  Mode mode_ = Mode::handshake;
  bool seen_bytes_ = false;
  bool paused_ = false;       // the engine paused reading
  bool raw_busy_ = false;     // a background write of `sending_` is in flight
  bool app_writing_ = false;  // the engine's write() waits for on_write_done
  bool notify_write_ = false; // ... which is due on the next tick
  bool eof_ = false;          // the peer's FIN or close_notify came
  bool eof_delivered_ = false;
  bool shut_ = false;     // close_notify queued (shutdown_write or close)
  bool shut_raw_ = false; // FIN to send once the ciphertext is out
  bool fin_sent_ = false; // ... and sent: nothing more may be written
  bool closing_ = false;  // close() came: closed once the ciphertext is out
};

/// The TLS face of one worker: wraps the inner service, makes a session per accepted
/// transport, and holds the buffers its connections share (they use them only within a call).
class TlsService final : public Service {
public:
  TlsService(Loop& loop, std::unique_ptr<Service> inner, std::shared_ptr<TlsContext> tls);
  ~TlsService() override;

  TransportHandler* accept(Transport& transport) override;
  void stop() override { inner_->stop(); }
  std::size_t connections() const noexcept override { return inner_->connections(); }
  WorkerStats stats() const noexcept override { return inner_->stats(); }

  static constexpr std::size_t record = 16 * 1024; // TLS's largest plaintext record
  /// Decrypted bytes on their way to the engine (valid during its on_read).
  char* plain() noexcept { return plain_.get(); }
  /// Where several small writes are joined into one record.
  char* staging() noexcept { return staging_.get(); }
  /// Ciphertext made within one call, sent before the call returns.
  std::string& scratch() noexcept { return scratch_; }
  TlsConnection* scratch_owner = nullptr; // whose records the scratch holds (within a call)

  void schedule(TlsConnection* c);
  void unschedule(TlsConnection* c) noexcept;

private:
  Loop& loop_;
  std::unique_ptr<Service> inner_;
  std::shared_ptr<TlsContext> tls_;
  std::shared_ptr<const CertSet> set_;
  std::uint64_t generation_ = 0;
  std::unique_ptr<char[]> plain_, staging_;
  std::string scratch_;
  std::vector<TlsConnection*> deferred_, running_;
  std::chrono::milliseconds timeout_{};
  bool tick_scheduled_ = false;
};

} // namespace lithe::tls
