// The HTTP/1.1 engine (RFC 9112): one HttpConnection per socket over a Transport, one
// HttpContext per worker loop (pools, Date, timeouts, counters). SPEC §10-11.
#pragma once

#include "out_queue.hpp"
#include "timeouts.hpp"

#include <lithe/detail/exchange.hpp>
#include <lithe/http.hpp>
#include <lithe/transport.hpp>

#include <llhttp.h>

#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

namespace lithe::http {

class HttpConnection;
class HttpContext;

/// One request's state: the exchange (env, hooks) plus what the parser gathered. Pooled.
class HttpExchange final : public detail::Exchange {
public:
  explicit HttpExchange(HttpContext& ctx) noexcept : ctx_(&ctx) {}

  struct Span {
    std::uint32_t off = 0, len = 0;
  };
  struct HeaderSpan {
    Span name, value;
  };

  llhttp_t parser{};
  Span url;
  SmallVector<HeaderSpan, 24> header_spans;
  bool in_value = false;
  Span body_span;
  std::string body_copy; // chunked (non-contiguous) bodies
  bool body_copied = false;
  bool headers_done = false;
  // Once a chunked body is gathered into body_copy, the input past the head need not be
  // kept: bytes from `keep` (relative to the request's start) on are dropped as parsed, and
  // counted in `dropped` so the request's size limit still sees them.
  std::uint32_t keep = 0;
  std::uint32_t dropped = 0;
  std::uint32_t trailer_bytes = 0; // trailer fields: checked and bounded, never kept
  std::uint16_t error_status = 0;
  const char* error_text = nullptr;

  // Set when the request is dispatched.
  const char* req_ptr = nullptr; // the request's bytes in the connection's input
  std::size_t req_len = 0;
  std::string pinned; // the request's bytes, copied when the exchange outlives the input
  bool is_pinned = false;
  bool is_head = false;
  bool upgrade = false;
  char remote[64] = {};

  // Response framing of a deferrable or streaming body.
  enum class Framing : std::uint8_t { none, length, chunked, close_delimited, swallow };
  Framing framing = Framing::none;
  std::uint64_t remaining = 0; // Content-Length bytes still due

  void prepare();
  void pin();
  /// Memory this request holds beyond the connection's input (its body copy, its pinned
  /// request bytes).
  std::size_t memory() const noexcept { return body_copy.capacity() + pinned.capacity(); }

protected:
  void recycle() noexcept override;

private:
  friend class HttpContext;
  HttpContext* ctx_;
};

class HttpContext final : public Service {
public:
  HttpContext(Loop& loop, const ListenInfo& listen, App app, HttpOptions opts);
  ~HttpContext() override;

  // Service
  TransportHandler* accept(Transport& transport) override;
  void stop() override;
  std::size_t connections() const noexcept override { return connection_count_; }
  WorkerStats stats() const noexcept override;

  Loop& loop() noexcept { return loop_; }
  const HttpOptions& options() const noexcept { return opts_; }
  const App& app() const noexcept { return app_; }
  const std::string& port_text() const noexcept { return port_text_; }
  detail::LiveCounters& counters() noexcept { return counters_; }
  BufferPool& buffers() noexcept { return buffers_; }
  const llhttp_settings_t& settings() const noexcept { return settings_; }
  bool stopping() const noexcept { return stopping_; }

  /// A Host value is a host[:port] (RFC 9110 §7.2).
  bool host_ok(std::string_view host);

  /// "Date: ...\r\n", refreshed once a second (RFC 9110 §6.6.1).
  std::string_view date_line() noexcept;
  std::string_view server_line() const noexcept { return server_line_; }

  HttpExchange* acquire_exchange();
  void release_exchange(HttpExchange* ex) noexcept;
  OutQueue* acquire_queue();
  void release_queue(OutQueue* q) noexcept;
  std::string* acquire_input();
  void release_input(std::string* s) noexcept;

  void arm(ReadTimeout& node, Timeout which);
  void arm(SendTimeout& node);
  void disarm(TimeoutNode& node) noexcept;

  /// Output queued outside on_read is flushed once at the end of this loop iteration.
  void schedule_flush(HttpConnection* c);
  void unschedule_flush(HttpConnection* c) noexcept;

  void add_connection(HttpConnection* c) noexcept;
  void remove_connection(HttpConnection* c) noexcept;
  void count_request() noexcept { requests_.fetch_add(1, std::memory_order_relaxed); }

private:
  void link(TimeoutNode& node, Timeout which);
  void sweep();
  std::uint32_t now_ms() const noexcept;

  Loop& loop_;
  App app_;
  HttpOptions opts_;
  std::string port_text_;
  std::string server_line_;
  llhttp_settings_t settings_{};
  detail::LiveCounters counters_;
  std::atomic<long> requests_{0};
  BufferPool buffers_;
  std::vector<std::unique_ptr<HttpExchange>> free_exchanges_;
  std::vector<std::unique_ptr<OutQueue>> free_queues_;
  std::vector<std::unique_ptr<std::string>> free_inputs_;
  char date_[64] = {};
  std::size_t date_len_ = 0;
  std::time_t date_sec_ = 0;
  TimeoutNode lists_[static_cast<int>(Timeout::count)]; // sentinels of circular lists
  std::uint32_t durations_[static_cast<int>(Timeout::count)] = {};
  TimerId sweep_timer_ = 0;
  std::vector<HttpConnection*> dirty_;
  bool flush_scheduled_ = false;
  std::string last_host_; // the last Host value host_ok found valid
  std::size_t connection_count_ = 0;
  std::atomic<long> live_connections_{0};
  bool stopping_ = false;
};

/// One connection's engine state. Every idle connection holds one, so it is kept small
/// (docs/backends.md): buffers, the exchange and the output queue are pooled and held only
/// while in use, and the flags are bits.
class HttpConnection final : public TransportHandler,
                             public detail::Sink,
                             public detail::SocketSink,
                             public ReadTimeout {
public:
  HttpConnection(HttpContext& ctx, Transport& t) noexcept;

  // TransportHandler
  void on_read(const char* data, std::size_t len) override;
  void on_eof() override;
  void on_write_done(std::error_code ec) override;
  void on_closed(CloseReason reason) override;
  void on_stop() override;

  // detail::Sink (the exchange's response side)
  void respond(detail::Exchange& ex, Response&& r) override;
  void body_write(detail::Exchange& ex, std::string_view bytes) override;
  void body_write(detail::Exchange& ex, std::string&& bytes) override;
  void body_end(detail::Exchange& ex, bool ok) override;
  std::size_t buffered() const noexcept override { return out_ ? out_->size() : 0; }
  std::size_t high_water() const noexcept override { return ctx_.options().high_water; }
  void log_error(const detail::Exchange& ex, std::string_view message) override;
  std::string_view peer_address(detail::Exchange& ex) noexcept override;

  // detail::SocketSink (after a hijack)
  bool sock_write(std::string_view bytes) override;
  bool sock_write(std::string&& bytes) override;
  void sock_close(bool abort) override;
  void sock_pause(bool paused) override;
  std::size_t sock_buffered() const noexcept override { return buffered(); }
  std::size_t sock_high_water() const noexcept override { return high_water(); }
  bool sock_charged() override;
  std::size_t sock_budget() const noexcept override { return ctx_.options().max_connection_memory; }

  // From the context.
  void on_timeout(Timeout which);
  void flush();

  // llhttp callbacks
  int on_url(const char* at, std::size_t len);
  int on_header_field(const char* at, std::size_t len);
  int on_header_value(const char* at, std::size_t len);
  int on_headers_complete();
  int on_body(const char* at, std::size_t len);
  int on_trailer(std::size_t len);

  ReadTimeout& read_timer() noexcept { return *this; }
  /// Memory this connection holds now (its budget: HttpOptions::max_connection_memory).
  std::size_t memory() const noexcept;
  /// What holds it, for the log line when the budget is reached.
  std::string memory_breakdown() const;

private:
  enum class Phase : std::uint8_t { idle, reading, serving, hijacked, closing, lingering, closed };

  void parse(const char* buf, std::size_t len, bool own);
  void parse_waiting();
  const char* line_ends_fault(const char* req, std::size_t len) const noexcept;
  bool output_full() const noexcept { return out_ && out_->size() >= ctx_.options().high_water; }
  void update_reading();
  bool over_budget(const char* what);
  void write_out();
  void begin_request();
  void dispatch(const char* req, std::size_t len);
  void fail_request(llhttp_errno_t err);
  void send_simple(int status, std::string_view text, CloseReason reason);
  void write_head(HttpExchange& ex, const Response& r, bool streaming);
  template <class S> void write_body(HttpExchange& ex, S&& bytes);
  void complete_response(HttpExchange& ex);
  void after_response();
  void queue_changed();
  void on_flushed();
  void start_close();
  void close_now(CloseReason reason);
  void drop_exchange() noexcept;
  void keep_input(const char* buf, std::size_t start, std::size_t pos, std::size_t len, bool own);
  OutQueue& out();
  bool limit_exceeded(const char* at, std::size_t len);

  HttpContext& ctx_;
  Transport& t_;
  HttpExchange* ex_ = nullptr;          // the request being read or answered (holds a ref)
  std::string* in_ = nullptr;           // input kept between reads
  OutQueue* out_ = nullptr;             // unsent output
  detail::SocketState* sock_ = nullptr; // after a hijack (holds a ref)
  const char* base_ = nullptr;          // the current request's first byte, while parsing
  std::uint32_t inflight_ = 0;          // bytes of a background write (at most max_write)
  std::uint32_t parsed_ = 0;            // bytes of *in_ already fed to the parser
  std::uint32_t discarded_ = 0;         // bytes read and dropped while lingering
  Phase phase_ = Phase::idle;
  CloseReason close_reason_ = CloseReason::done;

public:
  bool flush_scheduled : 1 = false; // in the context's end-of-iteration flush list

private:
  bool keep_alive_ : 1 = true;
  bool processing_ : 1 = false; // inside on_read: flush at its end
  bool writing_ : 1 = false;    // a background write is in flight
  bool eof_ : 1 = false;
  bool read_paused_ : 1 = false;     // what the transport was told
  bool app_paused_ : 1 = false;      // a hijacking app paused reading (Socket::pause)
  bool close_requested_ : 1 = false; // the engine called t_.close()
  // Exchanges answered but whose finish hooks wait for their last byte to be written: each
  // with the count of bytes written (since this list was made) at which it ends.
  struct PendingFinish {
    std::uint64_t mark;
    HttpExchange* ex;
  };
  struct Finishing {
    std::vector<PendingFinish> list;
    std::uint64_t written = 0;
  };
  Finishing* pending_ = nullptr;
  /// One background write or sendfile sends at most this much; the rest follows. The send
  /// timeout is re-armed after each, so it measures progress, not the whole response.
  static constexpr std::size_t max_write = 256 * 1024;
  void count_written(std::size_t n) noexcept {
    if (pending_) pending_->written += n;
  }
};

} // namespace lithe::http
