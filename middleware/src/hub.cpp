// Hub: one shard per loop. A shard's topic table is touched only on its loop; the list of
// shards, and each shard's subscriber count, under the hub's lock.
#include <lithe/mw/hub.hpp>
#include <lithe/mw/metrics.hpp>

#include <algorithm>
#include <atomic>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace lithe::mw {

struct Hub::Shard {
  Loop* loop;
  LoopHandle home; // posts safely even if the loop ends while a publish is on its way
  struct Sub {
    std::uint64_t id;
    Delivery fn;
  };
  std::unordered_map<std::string, std::vector<Sub>> topics; // loop thread only
  struct Entry {
    std::string topic;
    Kind kind;
  };
  std::unordered_map<std::uint64_t, Entry> topic_of; // loop thread only
  bool delivering = false;                           // loop thread only
  std::vector<std::uint64_t> deferred;          // unsubscribed while delivering (loop thread only)
  std::unordered_map<std::string, long> counts; // under the hub's lock
  long total = 0;                               // under the hub's lock
  long by_kind[3] = {};                         // under the hub's lock
};

Hub::Hub() = default;
Hub::~Hub() = default;

std::shared_ptr<Hub::Shard> Hub::shard_for(Loop& loop) {
  for (auto& s : shards_)
    if (s->loop == &loop) return s;
  auto s = std::make_shared<Shard>();
  s->loop = &loop;
  s->home = loop.handle();
  shards_.push_back(s);
  return s;
}

Subscription Hub::subscribe(std::string topic, Delivery fn, Kind kind) {
  Loop* loop = Loop::current();
  if (!loop) return {};
  std::shared_ptr<Shard> shard;
  std::uint64_t id;
  {
    std::lock_guard lock(mu_);
    shard = shard_for(*loop);
    id = next_id_++;
    ++shard->counts[topic];
    ++shard->total;
    ++shard->by_kind[static_cast<int>(kind)];
  }
  shard->topic_of.emplace(id, Shard::Entry{topic, kind});
  shard->topics[std::move(topic)].push_back({id, std::move(fn)});
  return {loop, id};
}

Subscription Hub::subscribe(const WebSocket& ws, std::string topic) {
  WebSocket target = ws;
  Subscription s = subscribe(
      std::move(topic),
      [target](const HubMessage& m) { return target.send_frame(m.frame) != SendResult::closed; },
      Kind::websocket);
  ws.on_closed([this, s] { unsubscribe(s); });
  return s;
}

void Hub::unsubscribe(Subscription s) {
  if (!s) return;
  std::shared_ptr<Shard> shard;
  {
    std::lock_guard lock(mu_);
    for (auto& sh : shards_)
      if (sh->loop == s.loop) shard = sh;
  }
  if (!shard) return;
  if (shard->delivering) { // a delivery closed a connection: finish the loop over it first
    shard->deferred.push_back(s.id);
    return;
  }
  auto t = shard->topic_of.find(s.id);
  if (t == shard->topic_of.end()) return;
  std::string topic = std::move(t->second.topic);
  const Kind kind = t->second.kind;
  shard->topic_of.erase(t);
  auto& subs = shard->topics[topic];
  std::erase_if(subs, [&](const Shard::Sub& x) { return x.id == s.id; });
  if (subs.empty()) shard->topics.erase(topic);
  std::lock_guard lock(mu_);
  if (--shard->counts[topic] == 0) shard->counts.erase(topic);
  --shard->by_kind[static_cast<int>(kind)];
  if (--shard->total == 0) std::erase(shards_, shard);
}

std::size_t Hub::publish(std::string topic, std::string data, bool binary) {
  return publish(std::move(topic), std::move(data), binary, {}, 0, false);
}

std::size_t Hub::publish(std::string topic, std::string data, std::string event, std::uint64_t id) {
  return publish(std::move(topic), std::move(data), false, std::move(event), id, true);
}

void Hub::set_relay(Relay relay, bool assigns_ids) {
  std::lock_guard lock(mu_);
  relay_ = relay ? std::make_shared<const Relay>(std::move(relay)) : nullptr;
  relay_assigns_ids_ = relay_ && assigns_ids;
}

bool Hub::relay_assigns_ids() const {
  std::lock_guard lock(mu_);
  return relay_assigns_ids_;
}

std::uint64_t Hub::add_tap(std::string topic, Tap tap) {
  std::lock_guard lock(mu_);
  std::uint64_t id = next_id_++;
  taps_.push_back({id, std::move(topic), std::make_shared<const Tap>(std::move(tap))});
  return id;
}

void Hub::remove_tap(std::uint64_t id) {
  // A delivery on another thread may still be calling it: wait for none to be (a tap is short).
  std::shared_ptr<const Tap> last;
  {
    std::lock_guard lock(mu_);
    for (auto it = taps_.begin(); it != taps_.end(); ++it)
      if (it->id == id) {
        last = std::move(it->tap);
        taps_.erase(it);
        break;
      }
  }
  while (last && last.use_count() > 1)
    std::this_thread::yield();
}

std::size_t Hub::publish(std::string topic, std::string data, bool binary, std::string event,
                         std::uint64_t id, bool sse) {
  HubMessage m{.topic = std::move(topic),
               .data = std::move(data),
               .binary = binary,
               .frame = {},
               .event = std::move(event),
               .id = id};
  std::shared_ptr<const Relay> relay;
  {
    std::lock_guard lock(mu_);
    relay = relay_;
    m.assign_id = sse && id == 0 && relay_assigns_ids_;
  }
  if (relay) return (*relay)(std::move(m)) ? 1 : 0;
  return deliver(std::move(m));
}

std::size_t Hub::deliver(HubMessage&& m) {
  messages_.fetch_add(1, std::memory_order_relaxed);
  auto msg = std::make_shared<HubMessage>(std::move(m));
  msg->frame.clear();
  ws::encode_frame(msg->frame, msg->binary ? ws::binary : ws::text, msg->data);
  std::vector<std::shared_ptr<Shard>> targets;
  std::vector<std::shared_ptr<const Tap>> taps;
  {
    std::lock_guard lock(mu_);
    for (auto& s : shards_)
      if (s->counts.count(msg->topic)) targets.push_back(s);
    for (const TapEntry& t : taps_)
      if (t.topic == msg->topic) taps.push_back(t.tap);
  }
  for (const auto& tap : taps)
    (*tap)(*msg);
  taps.clear();
  std::size_t posted = 0;
  for (auto& shard : targets) {
    bool ok = shard->home.post([this, shard, msg] {
      auto it = shard->topics.find(msg->topic);
      if (it == shard->topics.end()) return;
      shard->delivering = true;
      for (Shard::Sub& sub : it->second)
        if (!sub.fn(*msg)) shard->deferred.push_back(sub.id);
      shard->delivering = false;
      std::vector<std::uint64_t> gone;
      gone.swap(shard->deferred);
      for (std::uint64_t id : gone)
        unsubscribe({shard->loop, id});
    });
    posted += ok ? 1 : 0;
  }
  return posted;
}

std::size_t Hub::subscribers(std::string_view topic) const {
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (const auto& s : shards_)
    if (auto it = s->counts.find(std::string(topic)); it != s->counts.end())
      n += static_cast<std::size_t>(it->second);
  return n;
}

Hub::Counts Hub::counts() const {
  Counts c;
  c.messages = messages_.load(std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  std::unordered_set<std::string_view> topics;
  for (const auto& s : shards_) {
    c.websocket += static_cast<std::size_t>(s->by_kind[static_cast<int>(Kind::websocket)]);
    c.sse += static_cast<std::size_t>(s->by_kind[static_cast<int>(Kind::sse)]);
    c.other += static_cast<std::size_t>(s->by_kind[static_cast<int>(Kind::other)]);
    for (const auto& [topic, n] : s->counts)
      topics.insert(topic);
  }
  c.topics = topics.size();
  return c;
}

void add_hub_metrics(Metrics& metrics, const Hub& hub) {
  static constexpr const char* help = "Hub subscribers on every loop, by kind.";
  metrics.add({.name = "lithe_hub_subscribers",
               .help = help,
               .labels = R"(kind="websocket")",
               .read = [&hub] { return double(hub.counts().websocket); }});
  metrics.add(
      {.name = "lithe_hub_subscribers", .help = help, .labels = R"(kind="sse")", .read = [&hub] {
         return double(hub.counts().sse);
       }});
  metrics.add(
      {.name = "lithe_hub_subscribers", .help = help, .labels = R"(kind="other")", .read = [&hub] {
         return double(hub.counts().other);
       }});
  metrics.add({.name = "lithe_hub_topics",
               .help = "Hub topics with at least one subscriber.",
               .read = [&hub] { return double(hub.counts().topics); }});
  metrics.add({.name = "lithe_hub_messages_total",
               .help = "Messages the hub delivered to its loops (relayed ones included).",
               .type = "counter",
               .read = [&hub] { return double(hub.counts().messages); }});
}

} // namespace lithe::mw
