// Token buckets: refilled at `rate` per second up to `burst`, one token per counted request.
// In memory each worker thread has its own table (no locks on the request path), bounded by
// max_keys with least-recently-used eviction; with a store the bucket lives there and the
// request waits for its answer (async) without blocking the loop.
#include <lithe/mw/rate_limit.hpp>

#include <lithe/log.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>

namespace lithe::mw {

RateTable::RateTable(double rate, double burst, std::size_t max_keys)
    : rate_(rate > 0 ? rate : 1e-9), burst_(std::max(1.0, burst)),
      max_keys_(std::max<std::size_t>(1, max_keys)) {}

RateDecision RateTable::take(std::string_view key, std::chrono::steady_clock::time_point now) {
  auto it = map_.find(key);
  Bucket* b;
  if (it != map_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    b = &lru_.front();
    double elapsed = std::chrono::duration<double>(now - b->at).count();
    if (elapsed > 0) b->tokens = std::min(burst_, b->tokens + elapsed * rate_);
    b->at = std::max(b->at, now);
  } else {
    if (map_.size() >= max_keys_) {
      map_.erase(lru_.back().key);
      lru_.pop_back();
      ++evicted_;
    }
    lru_.push_front(Bucket{std::string(key), burst_, now});
    b = &lru_.front();
    map_.emplace(b->key, lru_.begin());
  }
  RateDecision d;
  if (b->tokens >= 1) {
    b->tokens -= 1;
  } else {
    d.allowed = false;
    d.retry_after = (1 - b->tokens) / rate_;
  }
  d.remaining = b->tokens;
  d.reset = (burst_ - b->tokens) / rate_;
  return d;
}

namespace {

std::atomic<std::uint64_t> next_instance{1};

struct RateMw {
  RateLimitOptions opt;
  std::uint64_t instance = next_instance.fetch_add(1);
  std::atomic<long> store_failures{0};

  RateTable& table() const {
    thread_local std::unordered_map<std::uint64_t, RateTable> tables;
    auto it = tables.find(instance);
    if (it == tables.end())
      it = tables.emplace(instance, RateTable(opt.rate, opt.burst, opt.max_keys)).first;
    return it->second;
  }

  std::string key(const Env& env) const {
    return opt.key ? opt.key(env) : std::string(env.remote_addr());
  }

  static std::string secs(double s) {
    return std::to_string(static_cast<long long>(std::ceil(std::max(0.0, s))));
  }

  void headers(Headers& h, const RateDecision& d) const {
    h.add("RateLimit-Limit", std::to_string(static_cast<long long>(opt.burst)));
    h.add("RateLimit-Remaining", std::to_string(static_cast<long long>(std::floor(d.remaining))));
    h.add("RateLimit-Reset", secs(d.reset));
  }

  Response refused(const RateDecision& d) const {
    Response r{429, {{"Content-Type", "text/plain"}}, "Too Many Requests\n"};
    r.headers.add("Retry-After", secs(std::max(1.0, d.retry_after)));
    headers(r.headers, d);
    return r;
  }

  Response pass(const App& next, Env& env, RateDecision d) const {
    return env.then(next(env), [this, d](Env&, Response r) {
      headers(r.headers, d);
      return r;
    });
  }

  Response unavailable(const App& next, Env& env, std::string_view why) {
    if (store_failures.fetch_add(1) == 0)
      log_error("mw::rate_limit: the store is unavailable (" + std::string(why) + "); " +
                (opt.fail_open ? "letting requests through" : "answering 503") +
                " while it is (logged once)");
    if (opt.fail_open) return next(env);
    return {503,
            {{"Content-Type", "text/plain"}},
            "Service Unavailable: the rate limit store is unavailable\n"};
  }

  Response call(const App& next, Env& env) {
    if (opt.counts && !opt.counts(env)) return next(env);
    if (!opt.store) {
      RateDecision d = table().take(key(env), env.loop().now());
      return d.allowed ? pass(next, env, d) : refused(d);
    }
    AsyncCallback cb = env.async_callback();
    Env* ep = &env;
    bool queued = opt.store->take(key(env), opt.rate, opt.burst, env.loop().handle(),
                                  [this, &next, ep, cb](RateStore::Result res) mutable {
                                    if (!cb.pending()) return;
                                    Env& e = *ep;
                                    Response r;
                                    try {
                                      if (!res.ok)
                                        r = unavailable(next, e, res.error);
                                      else
                                        r = res.decision.allowed ? pass(next, e, res.decision)
                                                                 : refused(res.decision);
                                    } catch (const std::exception& ex) {
                                      e.error(std::string("an exception in the app: ") + ex.what());
                                      r = internal_server_error();
                                    } catch (...) {
                                      e.error("an exception in the app");
                                      r = internal_server_error();
                                    }
                                    if (!r.is_async()) cb(std::move(r));
                                  });
    if (!queued) return unavailable(next, env, "its queue is full");
    return async;
  }
};

} // namespace

Middleware rate_limit(RateLimitOptions options) {
  auto mw = std::make_shared<RateMw>();
  mw->opt = std::move(options);
  return [mw](App next) -> App {
    return [mw, next = std::move(next)](Env& env) { return mw->call(next, env); };
  };
}

} // namespace lithe::mw
