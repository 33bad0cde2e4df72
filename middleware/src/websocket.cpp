// WebSocket: the handshake as a 101 response with a hijack body, then one Conn per socket
// that parses frames, assembles messages within its memory budget, answers pings and runs the
// close handshake (RFC 6455 §4, §5, §7; RFC 7692 §7 for compressed messages).
#include <lithe/mw/websocket.hpp>
#include <lithe/mw/ws_deflate.hpp>

#include <lithe/log.hpp>
#include <lithe/str.hpp>

#include <openssl/evp.h>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

namespace lithe::mw {

namespace {

constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// True when the comma-separated header value holds `token` (case-insensitive).
bool has_token(std::string_view list, std::string_view token) noexcept {
  while (!list.empty()) {
    std::size_t comma = list.find(',');
    if (iequals(trim_ows(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

/// A Sec-WebSocket-Key is base64 of 16 bytes: 22 characters and "==".
bool valid_key(std::string_view k) noexcept {
  if (k.size() != 24 || !k.ends_with("==")) return false;
  return std::all_of(k.begin(), k.end() - 2, [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
  });
}

Response refuse(int status, std::string why) {
  return {status, {{"Content-Type", "text/plain"}}, std::move(why) + "\n"};
}

} // namespace

std::string_view Handshake::header(std::string_view name) const noexcept {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return v;
  return {};
}

std::string_view Handshake::param(std::string_view name) const noexcept {
  for (const auto& [k, v] : params)
    if (k == name) return v;
  return {};
}

Handshake Handshake::from(const Env& env) {
  Handshake hs;
  hs.path = std::string(env.script_name()) + std::string(env.path());
  hs.query = std::string(env.query());
  hs.remote_addr = std::string(env.remote_addr());
  for (const RequestHeader& h : env.headers())
    hs.headers.emplace_back(std::string(h.name), std::string(h.value));
  for (const Env::Param& p : env.params())
    hs.params.emplace_back(std::string(p.name.view()), std::string(p.value.view()));
  return hs;
}

std::string Handshake::query_param(std::string_view name) const {
  std::string_view q = query;
  while (!q.empty()) {
    std::size_t amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
    std::size_t eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    std::string_view v = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    return percent_decode(v, true);
  }
  return {};
}

std::string websocket_accept(std::string_view key) {
  std::string in(key);
  in += guid;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(in.data(), in.size(), digest, &len, EVP_sha1(), nullptr);
  unsigned char out[64];
  int n = EVP_EncodeBlock(out, digest, static_cast<int>(len));
  return std::string(reinterpret_cast<char*>(out), static_cast<std::size_t>(n));
}

bool is_websocket_upgrade(const Env& env) noexcept {
  auto up = env.header("upgrade");
  return env.method() == "GET" && up && has_token(*up, "websocket");
}

namespace {
constexpr std::string_view over_budget_reason =
    "over the connection's memory budget (HttpOptions::max_connection_memory)";
// A message buffer larger than this is freed after its message, so an idle connection keeps
// no more than this.
constexpr std::size_t kept_buffer = 4096;
} // namespace

struct WebSocket::Conn : std::enable_shared_from_this<WebSocket::Conn> {
  Conn(std::shared_ptr<const WebSocketOptions> o, Handshake h,
       std::optional<ws::DeflateParams> deflate)
      : opts(std::move(o)), hs(std::move(h)), parser(opts->max_message, deflate.has_value()) {
    // The zlib state is this connection's too: its memory goes to the same budget. The
    // PerMessageDeflate lives inside this Conn, so `this` outlives the callback.
    if (deflate)
      pmd = std::make_unique<ws::PerMessageDeflate>(
          *deflate, opts->deflate, [this](std::ptrdiff_t n) { return sock.charge(n); });
  }

  std::shared_ptr<const WebSocketOptions> opts;
  Handshake hs;
  Socket sock;
  std::string data;
  ws::FrameParser parser;
  std::unique_ptr<ws::PerMessageDeflate> pmd; // permessage-deflate, when negotiated
  bool msg_compressed = false;
  std::uint8_t msg_opcode = 0; // the message being assembled, 0 for none
  std::string msg;
  bool msg_fragmented = false;
  ws::Utf8Validator utf8;
  bool close_sent = false, close_received = false, closed = false;
  bool failed = false; // fail() ran: no more frames are read, no more messages sent
  std::uint16_t close_code = ws::abnormal;
  std::string close_reason;
  bool was_clean = false;
  std::size_t charged = 0; // what the buffers above hold, as charged to the socket's budget
  bool pong_owed = false;  // a ping came while the output was over the mark
  std::string owed_ping;   // the latest such ping's payload (at most 125 bytes)
  TimerId idle_timer = 0, close_timer = 0;
  std::vector<Task> closed_hooks;
  std::shared_ptr<void> attachment;
  std::chrono::steady_clock::time_point last_seen;

  WebSocket handle() { return WebSocket(shared_from_this()); }

  void start(Socket s) {
    sock = std::move(s);
    last_seen = sock.loop().now();
    std::weak_ptr<Conn> weak = shared_from_this();
    auto self = shared_from_this(); // the socket's callbacks own the connection until close
    sock.on_data([self](std::string_view bytes) { self->on_data(bytes); });
    sock.on_drain([self] { self->on_drain(); });
    sock.on_stop([weak] {
      if (auto c = weak.lock()) c->start_close(ws::going_away, "server stopping");
    });
    sock.on_close([self](CloseReason) { self->finish(); });
    if (opts->idle_timeout.count() > 0) {
      auto period = std::max(opts->idle_timeout / 2, std::chrono::milliseconds(1));
      idle_timer = sock.loop().add_periodic_timer(period, [weak] {
        if (auto c = weak.lock()) c->check_idle();
      });
    }
    if (opts->on_open) {
      WebSocket ws = handle();
      opts->on_open(ws);
    }
  }

  void check_idle() {
    if (closed || close_sent) return;
    auto quiet = sock.loop().now() - last_seen;
    if (quiet >= opts->idle_timeout)
      start_close(ws::going_away, "idle timeout");
    else if (opts->auto_ping && quiet >= opts->idle_timeout / 2)
      send_control(ws::ping, {});
  }

  void on_drain() {
    if (closed) return;
    if (pong_owed) {
      pong_owed = false;
      send_control(ws::pong, owed_ping);
    }
    if (opts->on_drain && !closed) {
      WebSocket ws = handle();
      opts->on_drain(ws);
    }
  }

  void on_data(std::string_view bytes) {
    if (closed || close_received || failed) return;
    last_seen = sock.loop().now();
    parser.feed(bytes);
    if (!settle()) return release();
    ws::Frame f;
    for (;;) {
      auto r = parser.next(f);
      if (r == ws::FrameParser::Result::need_more) break;
      if (r == ws::FrameParser::Result::error) {
        fail(parser.error_code(), parser.error_reason());
        break;
      }
      on_frame(f);
      if (closed || close_received || failed || sock.closed()) break;
    }
    if (failed || closed) return release();
    parser.shrink();
    settle();
  }

  /// Charges the budget with what the buffers hold now (capacity, plus `extra` bytes held
  /// elsewhere for this connection). False, after failing with 1009, when that is too much.
  bool settle(std::size_t extra = 0) {
    if (failed || closed) return false;
    const std::size_t held = parser.capacity() + msg.capacity() + extra;
    if (held == charged) return true;
    const auto delta = static_cast<std::ptrdiff_t>(held) - static_cast<std::ptrdiff_t>(charged);
    charged = held;
    if (sock.charge(delta) || delta < 0) return true;
    fail(ws::too_big, over_budget_reason);
    return false;
  }

  /// Frees the buffers once no more frames will be read (a failure, or the end).
  void release() {
    parser = ws::FrameParser(opts->max_message, pmd != nullptr);
    std::string().swap(msg);
    if (charged) sock.charge(-static_cast<std::ptrdiff_t>(std::exchange(charged, 0)));
  }

  void end_message() {
    msg_opcode = 0;
    msg.clear();
    if (msg.capacity() > kept_buffer) std::string().swap(msg);
  }

  /// Appends a fragment to the message: the buffer doubles (so many small fragments cost linear
  /// time) but never past max_message, which std::string's own growth might pass.
  void append_fragment(std::string_view bytes) {
    const std::size_t need = msg.size() + bytes.size();
    if (need > msg.capacity()) {
      std::string grown;
      grown.reserve(std::min(opts->max_message, std::max(need, 2 * msg.capacity())));
      grown.append(msg);
      msg.swap(grown);
    }
    msg.append(bytes);
  }

  void deliver(std::uint8_t op, std::string_view payload) {
    WebSocket ws = handle();
    if (op == ws::text && opts->on_message) opts->on_message(ws, payload);
    if (op == ws::binary && opts->on_binary) opts->on_binary(ws, payload);
  }

  void on_frame(const ws::Frame& f) {
    switch (f.opcode) {
    case ws::text:
    case ws::binary:
    case ws::continuation: {
      if (f.opcode == ws::continuation && msg_opcode == 0)
        return fail(ws::protocol_error, "continuation frame without a message");
      if (f.opcode != ws::continuation && msg_opcode != 0)
        return fail(ws::protocol_error, "a new message began before the last one ended");
      if (f.opcode == ws::continuation && f.rsv1)
        return fail(ws::protocol_error, "RSV1 set on a continuation frame");
      if (f.opcode != ws::continuation) {
        msg_opcode = f.opcode;
        msg_fragmented = !f.fin;
        msg_compressed = f.rsv1;
        utf8.reset();
      }
      if (msg.size() + f.payload.size() > opts->max_message)
        return fail(ws::too_big, "message larger than the limit (max_message)");
      if (msg_compressed) {
        if (!f.fin) {
          append_fragment(f.payload); // inflated whole at the last fragment
          return;
        }
        std::string_view packed = f.payload;
        if (msg_fragmented) {
          append_fragment(f.payload);
          packed = msg;
        }
        return inflate_and_deliver(packed);
      }
      if (msg_opcode == ws::text && !utf8.feed(f.payload))
        return fail(ws::invalid_payload, "text message is not valid UTF-8");
      if (!f.fin) {
        append_fragment(f.payload);
        return;
      }
      if (msg_opcode == ws::text && !utf8.complete())
        return fail(ws::invalid_payload, "text message ends inside a UTF-8 sequence");
      std::string_view whole = f.payload;
      if (msg_fragmented) {
        append_fragment(f.payload);
        whole = msg;
      }
      const std::uint8_t op = msg_opcode;
      msg_opcode = 0;
      deliver(op, whole);
      end_message();
      return;
    }
    case ws::ping: {
      answer_ping(f.payload);
      WebSocket ws = handle();
      if (opts->on_ping) opts->on_ping(ws, f.payload);
      return;
    }
    case ws::pong: {
      // Solicited or not, a pong only shows the peer is alive (last_seen, for the idle timer).
      WebSocket ws = handle();
      if (opts->on_pong) opts->on_pong(ws, f.payload);
      return;
    }
    case ws::close: {
      if (f.payload.size() == 1) return fail(ws::protocol_error, "close frame of one byte");
      std::uint16_t code = ws::no_status;
      std::string_view reason;
      if (f.payload.size() >= 2) {
        code = static_cast<std::uint16_t>(static_cast<unsigned char>(f.payload[0]) << 8 |
                                          static_cast<unsigned char>(f.payload[1]));
        reason = f.payload.substr(2);
        if (!ws::valid_close_code(code)) return fail(ws::protocol_error, "invalid close code");
        if (!ws::valid_utf8(reason))
          return fail(ws::invalid_payload, "close reason is not valid UTF-8");
      }
      close_received = true;
      if (!close_sent) {
        // Echo the peer's code (§5.5.1); an empty close is answered with an empty close.
        std::string out;
        ws::encode_frame(out, ws::close,
                         code == ws::no_status ? std::string() : ws::close_payload(code, ""));
        sock.write(std::move(out));
        close_sent = true;
        close_code = code;
        close_reason = std::string(reason);
      }
      was_clean = true;
      sock.close(); // the server closes the TCP connection first (§7.1.1)
      return;
    }
    }
  }

  void inflate_and_deliver(std::string_view packed) {
    std::string plain;
    switch (pmd->decompress(packed, opts->max_message, plain)) {
    case ws::PerMessageDeflate::Status::ok:
      break;
    case ws::PerMessageDeflate::Status::too_big:
      return fail(ws::too_big, "message larger than the limit (max_message) once inflated");
    case ws::PerMessageDeflate::Status::invalid:
      return fail(ws::invalid_payload, "invalid permessage-deflate data");
    case ws::PerMessageDeflate::Status::over_budget:
      return fail(ws::too_big, "compression state would take the connection over its memory "
                               "budget (HttpOptions::max_connection_memory)");
    case ws::PerMessageDeflate::Status::no_memory:
      return fail(ws::internal_error, "compression state could not be allocated");
    }
    // The compressed bytes are done with; the inflated message counts while the app has it.
    if (msg_fragmented) {
      msg.clear();
      if (msg.capacity() > kept_buffer) std::string().swap(msg);
    }
    if (!settle(plain.capacity())) return;
    if (msg_opcode == ws::text && !ws::valid_utf8(plain))
      return fail(ws::invalid_payload, "text message is not valid UTF-8");
    const std::uint8_t op = msg_opcode;
    msg_opcode = 0;
    deliver(op, plain);
    end_message();
  }

  void answer_ping(std::string_view payload) {
    if (closed || close_sent || failed) return;
    // §5.5.3 lets us answer only the most recent ping: while the output waits above the
    // high-water mark (a peer that pings and does not read), no pong is queued; one goes out
    // for the latest ping when the socket drains.
    if (sock.buffered() >= sock.high_water()) {
      pong_owed = true;
      owed_ping.assign(payload.substr(0, 125));
      return;
    }
    pong_owed = false;
    send_control(ws::pong, payload);
  }

  void send_control(std::uint8_t op, std::string_view payload) {
    if (closed || close_sent || failed) return;
    std::string out;
    ws::encode_frame(out, op, payload.substr(0, 125));
    sock.write(std::move(out));
  }

  /// Whether a message may be queued now; when not, what send returns (and, past
  /// max_backpressure with the close policy, the connection is dropped).
  std::optional<SendResult> refuse_send() {
    if (closed || close_sent || failed || sock.closed()) return SendResult::closed;
    if (sock.buffered() <= opts->max_backpressure) return std::nullopt;
    if (opts->backpressure == BackpressurePolicy::drop) return SendResult::dropped;
    // The peer is not reading: a close frame would wait behind everything queued, so the
    // connection is dropped at once and the app hears 1008.
    log_error("websocket " + hs.path + ": the peer reads too slowly (backpressure limit)");
    if (opts->on_error) {
      WebSocket ws = handle();
      opts->on_error(ws, "backpressure limit");
    }
    close_sent = true;
    close_code = ws::policy;
    close_reason = "backpressure limit";
    was_clean = false;
    sock.abort();
    return SendResult::closed;
  }

  SendResult send_message(std::uint8_t op, std::string_view payload) {
    if (auto no = refuse_send()) return *no; // before compressing what may be dropped
    std::string out;
    if (pmd && payload.size() >= opts->compress_min) {
      std::string packed;
      switch (pmd->compress(payload, packed)) {
      case ws::PerMessageDeflate::Status::ok:
        break;
      case ws::PerMessageDeflate::Status::over_budget:
        fail(ws::too_big, "compression state would take the connection over its memory budget "
                          "(HttpOptions::max_connection_memory)");
        return SendResult::closed;
      default:
        fail(ws::internal_error, "compression failed");
        return SendResult::closed;
      }
      ws::encode_frame(out, op, packed, true, true);
    } else {
      ws::encode_frame(out, op, payload);
    }
    return sock.write(std::move(out)) ? SendResult::sent : SendResult::backpressure;
  }

  void start_close(std::uint16_t code, std::string_view reason) {
    if (closed || close_sent) return;
    std::string out;
    ws::encode_frame(out, ws::close, ws::close_payload(code, reason));
    sock.write(std::move(out));
    close_sent = true;
    close_code = code;
    close_reason = std::string(reason);
    std::weak_ptr<Conn> weak = shared_from_this();
    close_timer = sock.loop().add_timer(std::chrono::seconds(5), [weak] {
      if (auto c = weak.lock()) c->sock.abort(); // the peer never answered
    });
  }

  void fail(std::uint16_t code, std::string_view why) {
    if (closed || failed) return;
    failed = true;
    log_error("websocket " + hs.path + ": " + std::string(why) + "; closing with " +
              std::to_string(code));
    if (opts->on_error) {
      WebSocket ws = handle();
      opts->on_error(ws, why);
    }
    // The buffers may still be in the app's hands (a send from on_message can fail): they are
    // freed once on_data unwinds, but no longer count, so that the close frame fits the budget.
    if (charged) sock.charge(-static_cast<std::ptrdiff_t>(std::exchange(charged, 0)));
    if (!close_sent) {
      std::string out;
      ws::encode_frame(out, ws::close, ws::close_payload(code, why));
      sock.write(std::move(out));
      close_sent = true;
      close_code = code;
      close_reason = std::string(why);
    }
    was_clean = false;
    sock.close();
  }

  void finish() {
    if (closed) return;
    closed = true;
    if (idle_timer) sock.loop().cancel_timer(idle_timer);
    if (close_timer) sock.loop().cancel_timer(close_timer);
    if (!close_received && !close_sent) {
      close_code = ws::abnormal;
      close_reason.clear();
    }
    if (opts->on_close) {
      WebSocket ws = handle();
      opts->on_close(ws, close_code, close_reason, was_clean);
    }
    std::vector<Task> hooks;
    hooks.swap(closed_hooks);
    for (Task& t : hooks)
      t();
    // Handles may outlive the connection: they keep none of its buffers or zlib state.
    release();
    pmd.reset();
    std::string().swap(owed_ping);
  }
};

SendResult WebSocket::send(std::string_view text) const {
  return conn_ ? conn_->send_message(ws::text, text) : SendResult::closed;
}

SendResult WebSocket::send_binary(std::string_view bytes) const {
  return conn_ ? conn_->send_message(ws::binary, bytes) : SendResult::closed;
}

SendResult WebSocket::send_frame(std::string_view frame) const {
  if (!conn_) return SendResult::closed;
  if (auto no = conn_->refuse_send()) return *no; // before copying what may be dropped
  return conn_->sock.write(frame) ? SendResult::sent : SendResult::backpressure;
}

void WebSocket::ping(std::string_view payload) const {
  if (conn_) conn_->send_control(ws::ping, payload);
}

void WebSocket::close(std::uint16_t code, std::string_view reason) const {
  if (conn_) conn_->start_close(code, reason);
}

std::size_t WebSocket::buffered_amount() const noexcept {
  return conn_ && !conn_->closed ? conn_->sock.buffered() : 0;
}

bool WebSocket::closed() const noexcept {
  return !conn_ || conn_->closed || conn_->close_sent;
}

const Handshake& WebSocket::handshake() const noexcept {
  static const Handshake none;
  return conn_ ? conn_->hs : none;
}

Loop& WebSocket::loop() const noexcept {
  return conn_->sock.loop();
}

std::string& WebSocket::data() const noexcept {
  return conn_->data;
}

std::shared_ptr<void>& WebSocket::attachment() const noexcept {
  return conn_->attachment;
}

void WebSocket::on_closed(Task fn) const {
  if (!conn_ || conn_->closed)
    fn();
  else
    conn_->closed_hooks.push_back(std::move(fn));
}

namespace {

Response upgrade(Env& env, const std::shared_ptr<const WebSocketOptions>& opts) {
  if (env.method() != "GET") return refuse(400, "a WebSocket handshake is a GET");
  if (env.protocol() != "HTTP/1.1") return refuse(400, "a WebSocket handshake needs HTTP/1.1");
  auto connection = env.header("connection");
  if (!connection || !has_token(*connection, "upgrade"))
    return refuse(400, "Connection: Upgrade is missing");
  auto version = env.header("sec-websocket-version");
  if (!version || *version != "13") {
    Response r = refuse(426, "WebSocket version 13 is required");
    r.headers.add("Sec-WebSocket-Version", "13");
    return r;
  }
  auto key = env.header("sec-websocket-key");
  if (!key || !valid_key(*key)) return refuse(400, "Sec-WebSocket-Key is missing or malformed");

  Handshake hs = Handshake::from(env);
  if (!opts->protocols.empty()) {
    for (const RequestHeader& h : env.headers())
      if (iequals(h.name, "sec-websocket-protocol"))
        for (const std::string& mine : opts->protocols)
          if (hs.protocol.empty() && has_token(h.value, mine)) hs.protocol = mine;
    if (hs.protocol.empty() && opts->require_protocol)
      return refuse(400, "no offered subprotocol is supported");
  }
  if (opts->on_handshake && !opts->on_handshake(hs)) return refuse(403, "WebSocket refused");

  Headers headers{{"Upgrade", "websocket"},
                  {"Connection", "Upgrade"},
                  {"Sec-WebSocket-Accept", websocket_accept(*key)}};
  if (!hs.protocol.empty()) headers.add("Sec-WebSocket-Protocol", hs.protocol);
  std::optional<ws::DeflateParams> deflate;
  if (opts->compression)
    if (auto offers = env["HTTP_SEC_WEBSOCKET_EXTENSIONS"]; !offers.empty())
      if (auto offer = ws::negotiate_deflate(offers)) {
        deflate = ws::answer_deflate(*offer, opts->deflate);
        headers.add("Sec-WebSocket-Extensions", ws::deflate_response(*deflate));
      }
  auto conn = std::make_shared<WebSocket::Conn>(opts, std::move(hs), deflate);
  return {101, std::move(headers), hijack([conn](Socket s) { conn->start(std::move(s)); })};
}

} // namespace

App websocket(WebSocketOptions options) {
  auto opts = std::make_shared<const WebSocketOptions>(std::move(options));
  return [opts](Env& env) -> Response {
    if (!is_websocket_upgrade(env)) {
      Response r = refuse(426, "this endpoint speaks WebSocket");
      r.headers.add("Upgrade", "websocket");
      return r;
    }
    return upgrade(env, opts);
  };
}

Middleware websocket_middleware(WebSocketOptions options) {
  auto opts = std::make_shared<const WebSocketOptions>(std::move(options));
  return [opts](App next) -> App {
    return [opts, next = std::move(next)](Env& env) -> Response {
      if (!is_websocket_upgrade(env)) return next(env);
      return upgrade(env, opts);
    };
  };
}

} // namespace lithe::mw
