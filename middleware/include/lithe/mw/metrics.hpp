// Metrics: Prometheus text (exposition format 0.0.4) at a path: requests by status class,
// a latency histogram, bytes sent, responses that did not complete, the server's live
// counters (connections, requests in progress, WebSockets, ...), a hub's subscribers and the
// Redis bridge's queue and drops (add_hub_metrics, add_redis_metrics), and values the app
// adds. Cheap to record (per-thread shards of relaxed counters) and to scrape every second.
// docs/metrics.md.
#pragma once

#include <lithe/app.hpp>
#include <lithe/env.hpp>
#include <lithe/transport.hpp>

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace lithe::mw {

/// A value read when scraped.
struct MetricSource {
  std::string name; // lithe_hub_subscribers
  std::string help;
  std::string type = "gauge"; // or "counter"
  /// One series of a family: `kind="sse"`. Sources of one name are added one after another;
  /// the family's HELP and TYPE are the first's.
  std::string labels;
  std::function<double()> read;
};

class Metrics;
class Hub;
class RedisBridge;

/// A hub's numbers, read at each scrape: lithe_hub_subscribers{kind="websocket"|"sse"|"other"},
/// lithe_hub_topics, lithe_hub_messages_total. The hub must outlive the scrapes.
void add_hub_metrics(Metrics& metrics, const Hub& hub);
/// A Redis bridge's RedisStats: lithe_redis_connected, lithe_redis_queued (and _bytes),
/// lithe_redis_{published,received,dropped,reconnects}_total. Declared here, defined in
/// lithe::redis. The bridge must outlive the scrapes.
void add_redis_metrics(Metrics& metrics, const RedisBridge& bridge);

/// What the middleware records, shared by every worker thread (thread-safe throughout).
class Metrics {
public:
  Metrics();
  /// One response that ended (a finish hook's outcome). Any thread.
  void record(const Outcome& o) noexcept;
  /// The server's live counters (Server::stats), read when scraped.
  void set_server_stats(std::function<WorkerStats()> stats);
  void add(MetricSource source);
  /// The exposition text.
  std::string render() const;

  /// Upper bounds of the latency buckets, in seconds (then +Inf).
  static constexpr std::array<double, 14> buckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

private:
  struct alignas(64) Shard {
    std::atomic<std::uint64_t> by_class[6] = {}; // [0]: no status sent; [1..5]: 1xx..5xx
    std::atomic<std::uint64_t> in_bucket[buckets.size() + 1] = {};
    std::atomic<std::uint64_t> nanos{0};
    std::atomic<std::uint64_t> head_bytes{0}, body_bytes{0};
    std::atomic<std::uint64_t> incomplete{0};
  };
  static constexpr std::size_t shard_count = 16;
  std::unique_ptr<Shard[]> shards_;
  mutable std::mutex mu_; // guards the two below (set at start, read when scraped)
  std::function<WorkerStats()> server_;
  std::vector<MetricSource> sources_;
};

struct MetricsOptions {
  std::string path = "/metrics";
  /// Where to record (shared with the code that adds sources or the server's stats); nullptr:
  /// a new one.
  std::shared_ptr<Metrics> metrics;
};

/// Records every response passing through, and answers GET `path` with the text (the
/// scrapes themselves are not counted).
Middleware metrics(MetricsOptions options = {});

} // namespace lithe::mw
