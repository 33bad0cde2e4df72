// WebSocket (RFC 6455) over the protocol's hijack (SPEC §7), so it runs on every backend:
// the handshake (§4.2), em-websocket's callbacks as one aggregate of options (as uWebSockets
// does), close handshake, ping/pong (§5.5), fragmentation, UTF-8 checks, limits within the
// connection's memory budget, idle timeout, backpressure, permessage-deflate (RFC 7692).
#pragma once

#include <lithe/app.hpp>
#include <lithe/mw/ws_codec.hpp>
#include <lithe/mw/ws_deflate.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lithe::mw {

/// What the upgrade request said, kept for the connection's life (the request's env ends at
/// the upgrade; this is the part of it a WebSocket app needs: Skinny's `ws.env`).
struct Handshake {
  std::string path;     // SCRIPT_NAME + PATH_INFO
  std::string query;    // QUERY_STRING
  std::string protocol; // the negotiated subprotocol, or ""
  std::string remote_addr;
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::pair<std::string, std::string>> params; // router params, if any
  std::string_view header(std::string_view name) const noexcept;
  std::string_view param(std::string_view name) const noexcept;
  /// The query parameter `name`, percent-decoded ("" when absent).
  std::string query_param(std::string_view name) const;
  /// Copies what a long-lived connection needs from a request's env.
  static Handshake from(const Env& env);
};

class WebSocket;

/// What to do when a peer reads slower than we send (uWebSockets' maxBackpressure).
enum class BackpressurePolicy {
  close, // close with 1008 once over the limit
  drop,  // drop messages while over the limit (send returns SendResult::dropped)
};

struct WebSocketOptions {
  /// Subprotocols offered by the server, in order of preference (Sec-WebSocket-Protocol). A
  /// client asking only for others is refused with 400 when `require_protocol` is set.
  std::vector<std::string> protocols;
  bool require_protocol = false;
  /// Called before the upgrade: return false to refuse it (403).
  std::function<bool(const Handshake&)> on_handshake;
  std::function<void(WebSocket&)> on_open;
  std::function<void(WebSocket&, std::string_view)> on_message; // text, valid UTF-8
  std::function<void(WebSocket&, std::string_view)> on_binary;
  std::function<void(WebSocket&, std::string_view)> on_ping;
  std::function<void(WebSocket&, std::string_view)> on_pong;
  std::function<void(WebSocket&)> on_drain;
  /// The last call: the code (1005 when the peer sent none, 1006 when the TCP connection ended
  /// without a close frame), the reason, and whether the close handshake completed.
  std::function<void(WebSocket&, std::uint16_t code, std::string_view reason, bool was_clean)>
      on_close;
  /// A protocol error or a limit, before on_close (which follows with the code sent).
  std::function<void(WebSocket&, std::string_view message)> on_error;
  /// Larger messages (after inflating) close with 1009. What a message takes while it is
  /// assembled counts against the connection's memory budget
  /// (HttpOptions::max_connection_memory, 1 MiB): raising this may need that raised too.
  std::size_t max_message = 256 << 10;
  /// Unsent bytes past which `backpressure` applies.
  std::size_t max_backpressure = 256 << 10;
  BackpressurePolicy backpressure = BackpressurePolicy::close;
  /// No frame from the peer for this long: close 1001. Zero: never.
  std::chrono::milliseconds idle_timeout{120'000};
  /// Send a ping when the peer has been quiet for half the idle timeout.
  bool auto_ping = true;
  /// Negotiate permessage-deflate (RFC 7692) when the client offers it.
  bool compression = false;
  /// How compression keeps its zlib state: by default none per connection (streams shared by
  /// the loop thread, no context takeover); `.deflate = {.context_takeover = true}` for
  /// per-connection streams, charged to the connection's memory budget.
  ws::DeflateOptions deflate;
  /// Messages shorter than this are sent uncompressed even when compression is on.
  std::size_t compress_min = 64;
};

enum class SendResult { sent, backpressure, dropped, closed };

/// A WebSocket connection. Callbacks get it by reference; keep a copy to send later (a
/// handle: copies share the connection). Loop thread only; safe after close (sends return
/// SendResult::closed).
class WebSocket {
public:
  WebSocket() = default;
  SendResult send(std::string_view text) const;
  SendResult send_binary(std::string_view bytes) const;
  /// Sends bytes that are already a whole encoded frame (the hub encodes once for many).
  SendResult send_frame(std::string_view frame) const;
  void ping(std::string_view payload = {}) const;
  /// Starts the close handshake; the socket closes when the peer answers (or after 5 s).
  void close(std::uint16_t code = ws::normal, std::string_view reason = {}) const;
  /// Bytes queued and not yet taken by the socket.
  std::size_t buffered_amount() const noexcept;
  bool closed() const noexcept;
  const Handshake& handshake() const noexcept;
  Loop& loop() const noexcept;
  /// A value the app keeps with the connection (a user name, a room).
  std::string& data() const noexcept;
  /// Runs fn when the connection closes, after the options' on_close (the hub uses it to
  /// unsubscribe). At once if it is already closed.
  void on_closed(Task fn) const;
  /// An object the app keeps with the connection (Cramp-style actions keep themselves here).
  std::shared_ptr<void>& attachment() const noexcept;
  /// Identity, for sets and maps of connections.
  const void* id() const noexcept { return conn_.get(); }
  explicit operator bool() const noexcept { return conn_ != nullptr; }

  struct Conn;
  explicit WebSocket(std::shared_ptr<Conn> c) noexcept : conn_(std::move(c)) {}
  Conn* conn() const noexcept { return conn_.get(); }

private:
  std::shared_ptr<Conn> conn_;
};

/// An App that upgrades WebSocket requests (400 for a bad handshake, 426 for another
/// version) and answers others 426 Upgrade Required.
App websocket(WebSocketOptions options);
/// The same as a Middleware: requests that are not WebSocket upgrades go to the next app.
Middleware websocket_middleware(WebSocketOptions options);
/// True when the request asks for a WebSocket upgrade (GET, Upgrade: websocket).
bool is_websocket_upgrade(const Env& env) noexcept;
/// Sec-WebSocket-Accept for a key (RFC 6455 §4.2.2).
std::string websocket_accept(std::string_view key);

} // namespace lithe::mw
