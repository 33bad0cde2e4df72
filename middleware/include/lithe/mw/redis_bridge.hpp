// RedisBridge: a Hub shared by every process subscribed to the same Redis (DESIGN.md, "Beyond
// one machine"). Once a bridge is attached, hub.publish() goes to Redis (PUBLISH) instead of
// to the local subscribers, and what Redis sends back (PSUBSCRIBE) is delivered to the local
// subscribers of every process, this one included, so each message reaches each subscriber
// once, in the order Redis saw it. An SSE event published with id 0 (EventChannel) gets its
// id from Redis (a counter per topic, INCR and PUBLISH in one script), so ids and every
// process's replay history agree (docs/deploy.md). Link lithe::redis (hiredis).
#pragma once

#include <lithe/mw/hub.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace lithe::mw {

struct RedisOptions {
  /// "redis://host[:port]" (port 6379 by default) or "unix:/path/to/redis.sock".
  std::string url = "redis://127.0.0.1:6379";
  /// Channel names are prefix + topic; the bridge subscribes to prefix + "*".
  std::string prefix = "lithe:";
  /// Publishes held while Redis is unreachable (or slower than the publishers), bounded both by
  /// count and by bytes (a message counts its topic, data and event name); a publish that
  /// would pass either bound is dropped: Hub::publish returns 0, stats().dropped counts it and
  /// the first drop is logged.
  std::size_t max_queued = 10000;
  std::size_t max_queued_bytes = 16 << 20;
  /// Pause between reconnection attempts.
  std::chrono::milliseconds reconnect_delay{200};
};

struct RedisStats {
  long published = 0;           // PUBLISH commands Redis acknowledged
  long received = 0;            // messages from Redis delivered to this hub
  long dropped = 0;             // publishes refused because the queue was full
  long reconnects = 0;          // connections lost and made again
  std::size_t queued = 0;       // publishes waiting for Redis now (the one being sent included)
  std::size_t queued_bytes = 0; // their bytes, as max_queued_bytes counts them
};

class RedisBridge {
public:
  /// Attaches to `hub` (its relay) and starts connecting in the background. Throws
  /// std::invalid_argument when the URL is not one of the two forms above.
  explicit RedisBridge(Hub& hub, RedisOptions options = {});
  /// Sends what is still queued if Redis is there, then detaches from the hub (publishes
  /// deliver locally again) and stops both connections.
  ~RedisBridge();
  RedisBridge(const RedisBridge&) = delete;
  RedisBridge& operator=(const RedisBridge&) = delete;

  /// Subscribed and able to publish.
  bool connected() const noexcept;
  /// Waits (bounded) until connected(); for start-up and tests.
  bool wait_connected(std::chrono::milliseconds timeout);
  RedisStats stats() const noexcept;
  /// Waits (bounded) until every message Redis took before this call has been handed to the
  /// hub here: a marker goes through Redis to this process's own subscriber. At a restart the
  /// old process calls it before its streams end (Program::before_drain), so what was
  /// published before the new process subscribed reaches them. False at the deadline.
  bool sync(std::chrono::milliseconds timeout);

  /// A message as it travels in a Redis channel: text as it is (so `redis-cli PUBLISH
  /// lithe:news hi` reaches subscribers of "news"); binary, SSE event/id, or text starting
  /// with a NUL byte behind a short header that starts with NUL.
  static std::string encode(const HubMessage& m);
  static HubMessage decode(std::string topic, std::string_view payload);

private:
  bool enqueue(HubMessage&& m);
  void publisher();
  void subscriber();
  bool pause(std::unique_lock<std::mutex>& lock); // false when stopping

  Hub& hub_;
  RedisOptions opts_;
  std::string host_;
  int port_ = 0; // 0: unix socket at host_

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<HubMessage> queue_; // under mu_
  std::size_t in_flight_ = 0;    // under mu_: 1 while the publisher sends one it popped
  std::size_t queued_bytes_ = 0; // under mu_: queue_ and the one in flight
  bool stopping_ = false;        // under mu_
  bool subscribed_ = false;      // under mu_
  bool publishing_ = false;      // under mu_
  int sub_fd_ = -1;              // under mu_: shut down to wake the subscriber at stop

  const std::string sync_topic_;  // sync()'s marker: a topic of this process alone
  std::uint64_t syncs_asked_ = 0; // under mu_
  std::uint64_t syncs_seen_ = 0;  // under mu_

  std::atomic<long> published_{0}, received_{0}, dropped_{0}, reconnects_{0};
  std::thread pub_thread_, sub_thread_;
};

} // namespace lithe::mw
