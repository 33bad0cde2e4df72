// Hub: publish/subscribe by topic across connections and worker threads (uWebSockets'
// topics, Cramp's broadcast). Subscriptions live on their connection's loop; a publish, from
// any thread, encodes the WebSocket frame once and posts one task to each loop that has
// subscribers, which delivers to its own connections without locks.
#pragma once

#include <lithe/mw/websocket.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace lithe::mw {

struct HubMessage {
  std::string topic;
  std::string data;
  bool binary = false;
  std::string frame; // `data` as one encoded WebSocket frame, shared by every subscriber
  std::string event; // for Server-Sent Events subscribers: the event name and id
  std::uint64_t id = 0;
  /// An SSE event published with id 0 through a relay that assigns ids (Hub::set_relay): the
  /// relay gives it the next id of its topic.
  bool assign_id = false;
};

struct Subscription {
  Loop* loop = nullptr;
  std::uint64_t id = 0;
  explicit operator bool() const noexcept { return id != 0; }
};

class Hub {
public:
  /// Called on the subscriber's loop for each message; return false to unsubscribe.
  using Delivery = Function<bool(const HubMessage&)>;

  Hub();
  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  /// What a subscription delivers to: counted apart by counts() (lithe_hub_subscribers).
  enum class Kind : std::uint8_t { websocket, sse, other };

  /// Subscribes a WebSocket (on its loop thread); it is unsubscribed when it closes.
  Subscription subscribe(const WebSocket& ws, std::string topic);
  /// Subscribes any receiver (an SSE stream, say) on the calling loop thread.
  Subscription subscribe(std::string topic, Delivery fn, Kind kind = Kind::other);
  /// On the subscription's loop thread.
  void unsubscribe(Subscription s);
  /// From any thread. Returns the number of loops the message was posted to (with a relay:
  /// 1 when the relay took it, 0 when it dropped it).
  std::size_t publish(std::string topic, std::string data, bool binary = false);
  /// The same with an SSE event name and id, which WebSocket subscribers ignore. Id 0 through
  /// a relay that assigns ids: the relay's next one.
  std::size_t publish(std::string topic, std::string data, std::string event, std::uint64_t id);
  /// Subscribers of `topic` on every loop (a snapshot).
  std::size_t subscribers(std::string_view topic) const;
  struct Counts {
    std::size_t websocket = 0, sse = 0, other = 0; // subscribers on every loop, by Kind
    std::size_t topics = 0;                        // topics with a subscriber
    std::uint64_t messages = 0;                    // messages deliver() took, relayed ones included
  };
  /// A snapshot, cheap enough for every scrape (add_hub_metrics).
  Counts counts() const;

  /// A relay takes every publish instead of this hub (a broker bridge such as RedisBridge,
  /// which hands messages back through deliver() on every process). Called on the
  /// publishing thread; returns false when it dropped the message. Empty: publish delivers.
  using Relay = std::function<bool(HubMessage&&)>;
  /// `assigns_ids`: the relay gives an SSE event published with id 0 the next id of its topic,
  /// one sequence for every process (RedisBridge), so EventChannel leaves the ids to it.
  void set_relay(Relay relay, bool assigns_ids = false);
  /// Whether the relay set now assigns ids (set_relay).
  bool relay_assigns_ids() const;
  /// Sees each message of `topic` delivered here (relayed ones included) on the delivering
  /// thread, before any subscriber does: EventChannel keeps its history with it. Returns an id
  /// for remove_tap; the tap is not called once that returned.
  using Tap = std::function<void(const HubMessage&)>;
  std::uint64_t add_tap(std::string topic, Tap tap);
  void remove_tap(std::uint64_t id);
  /// Delivers to this hub's subscribers, bypassing the relay. From any thread; returns the
  /// number of loops the message was posted to.
  std::size_t deliver(HubMessage&& m);

  struct Shard;

private:
  std::size_t publish(std::string topic, std::string data, bool binary, std::string event,
                      std::uint64_t id, bool sse);
  std::shared_ptr<Shard> shard_for(Loop& loop);
  void drop_if_empty(const std::shared_ptr<Shard>& shard);

  std::shared_ptr<const Relay> relay_; // under mu_; read as a snapshot
  bool relay_assigns_ids_ = false;     // under mu_
  struct TapEntry {
    std::uint64_t id;
    std::string topic;
    std::shared_ptr<const Tap> tap;
  };
  std::vector<TapEntry> taps_; // under mu_
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<Shard>> shards_; // one per loop with subscribers
  std::uint64_t next_id_ = 1;                  // guarded by mu_
  std::atomic<std::uint64_t> messages_{0};
};

} // namespace lithe::mw
