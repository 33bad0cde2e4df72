// Rate limiting: a token bucket per key (the client's address unless told otherwise) per
// worker thread, with a bounded number of keys; or one bucket per key shared by every process
// through a store (Redis: lithe/mw/redis_rate_store.hpp). 429 with Retry-After, and the
// RateLimit-* headers of draft-ietf-httpapi-ratelimit-headers. docs/rate_limit.md.
#pragma once

#include <lithe/app.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace lithe::mw {

/// One take from a bucket.
struct RateDecision {
  bool allowed = true;
  double remaining = 0;   // tokens left after this take
  double retry_after = 0; // seconds until a token is there (when refused)
  double reset = 0;       // seconds until the bucket is full again
};

/// Buckets by key, the least recently used evicted beyond max_keys (a client that rotates keys
/// costs at most max_keys buckets). Not thread-safe: one per worker thread.
class RateTable {
public:
  RateTable(double rate, double burst, std::size_t max_keys);
  RateDecision take(std::string_view key, std::chrono::steady_clock::time_point now);
  std::size_t size() const noexcept { return map_.size(); }
  std::size_t evicted() const noexcept { return evicted_; }

private:
  struct Bucket {
    std::string key;
    double tokens;
    std::chrono::steady_clock::time_point at;
  };
  double rate_, burst_;
  std::size_t max_keys_, evicted_ = 0;
  std::list<Bucket> lru_; // most recent first
  std::unordered_map<std::string_view, std::list<Bucket>::iterator> map_;
};

/// A bucket shared across processes. take() is called on a loop thread and answers on `home`.
class RateStore {
public:
  virtual ~RateStore() = default;
  struct Result {
    bool ok = false; // false: the store could not answer (error says why)
    RateDecision decision;
    std::string error;
  };
  /// False when it cannot take the request now (done not called): treated as unavailable.
  virtual bool take(std::string_view key, double rate, double burst, LoopHandle home,
                    Function<void(Result)> done) = 0;
};

struct RateLimitOptions {
  double rate = 10;  // tokens per second
  double burst = 20; // the bucket's size: requests allowed at once
  /// The bucket's key; the client's address (env.remote_addr()) when empty.
  std::function<std::string(const Env&)> key;
  /// Which requests take a token (all when empty), e.g. only POST /login.
  std::function<bool(const Env&)> counts;
  /// Buckets per worker thread; the least recently used go first.
  std::size_t max_keys = 10000;
  /// Shared buckets (RedisRateStore); null: per worker, in memory.
  std::shared_ptr<RateStore> store;
  /// When the store cannot answer: let the request through (true) or answer 503.
  bool fail_open = true;
};

Middleware rate_limit(RateLimitOptions options = {});

} // namespace lithe::mw
