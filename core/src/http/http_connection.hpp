// The HTTP/1.1 engine (RFC 9112): one HttpConnection per socket over a Transport, one
// HttpContext per worker loop (pools, Date, timeouts, counters). SPEC §10-11.
#pragma once

#include "out_queue.hpp"
#include "request_reader.hpp"
#include "response_writer.hpp"
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

/// One request's state: the exchange (env, hooks), the reader that parses it and the encoder
/// of its response body. Pooled. It is also the source of its streamed body (so the
/// connection, which every idle socket holds, carries no extra interface).
class HttpExchange final : public detail::Exchange, public detail::InputSource {
public:
  explicit HttpExchange(HttpContext& ctx) noexcept : ctx_(&ctx) {}

  RequestReader reader;
  HttpConnection* conn = nullptr; // while the connection serves this exchange

  // Set when the request is dispatched.
  const char* req_ptr = nullptr; // the request's bytes in the connection's input
  std::size_t req_len = 0;
  std::string pinned; // the request's bytes, copied when the exchange outlives the input
  bool is_pinned = false;
  bool is_head = false;
  bool http10 = false;
  bool upgrade = false;
  bool body_open = false;     // a streamed body is still arriving
  bool continue_sent = false; // 100 Continue went out
  char remote[64] = {};

  BodyEncoder encoder; // a deferrable or streaming body's framing

  void prepare();
  void pin();
  /// Memory this request holds beyond the connection's input (its body, its pinned bytes).
  std::size_t memory() const noexcept {
    return reader.memory() + pinned.capacity() + (input() ? input()->memory() : 0);
  }

  // detail::InputSource
  void input_started() override;
  void input_drained() override;
  std::size_t input_high_water() const noexcept override;

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
  /// lithe.url_scheme: "https" behind the TLS layer (SPEC 2.7).
  std::string_view scheme() const noexcept { return tls_ ? "https" : "http"; }
  detail::LiveCounters& counters() noexcept { return counters_; }
  BufferPool& buffers() noexcept { return buffers_; }
  bool stopping() const noexcept { return stopping_; }
  HostCache& hosts() noexcept { return hosts_; }

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
  bool tls_ = false;
  HttpOptions opts_;
  std::string port_text_;
  std::string server_line_;
  detail::LiveCounters counters_;
  std::atomic<long> requests_{0};
  BufferPool buffers_;
  std::vector<std::unique_ptr<HttpExchange>> free_exchanges_;
  std::vector<std::unique_ptr<OutQueue>> free_queues_;
  std::vector<std::unique_ptr<std::string>> free_inputs_;
  char date_[64] = {};
  std::size_t date_len_ = 0;
  std::time_t date_sec_ = 0;
  detail::IntrusiveList<TimeoutNode> lists_[static_cast<int>(Timeout::count)];
  std::uint32_t durations_[static_cast<int>(Timeout::count)] = {};
  TimerId sweep_timer_ = 0;
  std::vector<HttpConnection*> dirty_;
  bool flush_scheduled_ = false;
  HostCache hosts_;
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
  std::string tls_info(detail::Exchange&, std::string_view name) override {
    return t_.tls_info(name);
  }

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

  // From the exchange (its streamed body).
  void input_started(HttpExchange& ex);
  void input_drained() { queue_changed(); }

  ReadTimeout& read_timer() noexcept { return *this; }
  /// Memory this connection holds now (its budget: HttpOptions::max_connection_memory).
  std::size_t memory() const noexcept;
  /// What holds it, for the log line when the budget is reached.
  std::string memory_breakdown() const;

private:
  enum class Phase : std::uint8_t { idle, reading, serving, hijacked, closing, lingering, closed };

  void parse(const char* buf, std::size_t len, bool own);
  bool can_parse() const noexcept;
  void parse_waiting();
  bool output_full() const noexcept { return out_ && out_->size() >= ctx_.options().high_water; }
  bool body_open() const noexcept { return ex_ && ex_->body_open; }
  void update_reading();
  bool over_budget(const char* what);
  void write_out();
  void begin_request();
  void bind(HttpExchange& ex, const char* req, std::size_t len);
  void dispatch(const char* req, std::size_t len);
  void dispatch_head(const char* req, std::size_t len);
  void end_body(InputError e);
  void refuse_body(int status, const char* reason, InputError e);
  void fail_request();
  void send_simple(int status, std::string_view text, CloseReason reason);
  void send_continue(HttpExchange& ex);
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

  HttpContext& ctx_;
  Transport& t_;
  HttpExchange* ex_ = nullptr;          // the request being read or answered (holds a ref)
  std::string* in_ = nullptr;           // input kept between reads
  OutQueue* out_ = nullptr;             // unsent output
  detail::SocketState* sock_ = nullptr; // after a hijack (holds a ref)
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
