// Server-Sent Events (the WHATWG HTML "server-sent events" format): text/event-stream with
// event, id, retry and multi-line data, comment heartbeats, Last-Event-ID replay from a
// bounded history, and a policy for clients that read too slowly (send_event, for any stream
// fed from a Hub). An EventChannel is one
// topic: it keeps the history and fans out through a Hub, so it works across worker threads
// and beside WebSocket subscribers of the same topic.
#pragma once

#include <lithe/app.hpp>
#include <lithe/mw/hub.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

namespace lithe::mw {

struct SseEvent {
  std::string_view event; // "" for the default "message"
  std::string_view data;  // split into one data: line per line (CR, LF or CRLF)
  std::string_view id;
  std::optional<int> retry; // milliseconds
};

/// One event in wire form, ending with the blank line.
std::string format_sse(const SseEvent& e);
/// The response head an event stream needs (Content-Type, no caching, no proxy buffering).
Headers sse_headers();

/// What happens to a client whose unsent bytes exceed `max_buffered`.
enum class SlowClient {
  drop, // end its stream (it reconnects with Last-Event-ID and gets the history)
  skip, // skip events until it catches up
};

/// Writes one event to a subscriber's stream under the slow-client policy, for every stream
/// fed from a Hub (EventChannel, lithe-broadcast): once `out` holds more than `max_buffered`
/// unsent bytes, the event is skipped (SlowClient::skip) or the stream is ended with fail()
/// (SlowClient::drop) so that the client reconnects. Returns false once the stream is closed,
/// which is what a Hub::Delivery returns to unsubscribe. On the stream's loop.
bool send_event(const DeferrableBody& out, const SseEvent& event, std::size_t max_buffered,
                SlowClient slow_client);

struct SseOptions {
  std::chrono::milliseconds heartbeat{15'000}; // a ": ping" comment; zero: none
  std::size_t max_buffered = 256 * 1024;
  SlowClient slow_client = SlowClient::drop;
  std::optional<int> retry; // sent first, as the client's reconnection delay
  /// Called when a client connects (on its loop), with the request (to announce a join, say);
  /// what it returns runs when that client's stream ends, for any reason.
  std::function<Function<void(CloseReason)>(Env&)> on_open;
};

class EventChannel {
public:
  EventChannel(Hub& hub, std::string topic, std::size_t history = 100);
  ~EventChannel();
  EventChannel(const EventChannel&) = delete;
  EventChannel& operator=(const EventChannel&) = delete;
  /// From any thread: assigns the next id, keeps the event in the history, delivers it; returns
  /// the id. When the hub's relay assigns ids (RedisBridge: one sequence for every process),
  /// the event goes to it with none and returns 0; the history keeps the events as they come
  /// back, with their ids, from any process: so a client that reconnects to another process,
  /// or to the one that replaced this at a restart, catches up by Last-Event-ID.
  std::uint64_t publish(std::string event, std::string data);
  /// An App serving this channel as text/event-stream: replays the events after the
  /// request's Last-Event-ID (when the history still holds it), then streams new ones.
  App app(SseOptions options = {});
  const std::string& topic() const noexcept { return topic_; }

private:
  void start(DeferrableBody out, std::shared_ptr<const SseOptions> opts,
             std::optional<std::uint64_t> after, Function<void(CloseReason)> on_end);
  struct Kept {
    std::uint64_t id;
    std::string event, data;
  };
  Hub& hub_;
  std::string topic_;
  std::size_t history_;
  std::mutex mu_;
  std::deque<Kept> kept_;
  std::uint64_t last_id_ = 0;
  std::uint64_t tap_ = 0; // the hub's tap that keeps relayed events (Hub::add_tap)
};

} // namespace lithe::mw
