// RedisRateStore: the token bucket of rate_limit.cpp as one Lua script, run atomically by
// Redis with its own clock (TIME), so processes on machines whose clocks differ share one
// bucket. The bucket is a hash {tokens, at} that expires once it would be full again.
#include <lithe/mw/redis_rate_store.hpp>

#include <openssl/sha.h>

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace lithe::mw {

namespace {

double number(const RedisReply& r) {
  double v = 0;
  if (r.type == RedisReply::Type::integer) return static_cast<double>(r.integer);
  std::from_chars(r.str.data(), r.str.data() + r.str.size(), v);
  return v;
}

} // namespace

const std::string& RedisRateStore::script() {
  static const std::string s = R"(
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(b[1]) or burst, tonumber(b[2]) or now
if now > at then tokens = math.min(burst, tokens + (now - at) * rate) end
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(math.max(now, at)))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return {allowed, tostring(tokens)}
)";
  return s;
}

const std::string& RedisRateStore::script_sha() {
  static const std::string sha = [] {
    unsigned char d[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(script().data()), script().size(), d);
    std::string hex;
    char b[3];
    for (unsigned char c : d) {
      std::snprintf(b, sizeof b, "%02x", c);
      hex += b;
    }
    return hex;
  }();
  return sha;
}

RedisRateStore::RedisRateStore(std::shared_ptr<RedisClient> client, std::string prefix)
    : client_(std::move(client)), prefix_(std::move(prefix)) {}

bool RedisRateStore::take(std::string_view key, double rate, double burst, LoopHandle home,
                          Function<void(Result)> done) {
  std::vector<std::string> args{"EVALSHA",
                                script_sha(),
                                "1",
                                prefix_ + std::string(key),
                                std::to_string(rate),
                                std::to_string(burst)};
  auto finish = [rate, burst](RedisReply r) {
    Result res;
    if (r.type != RedisReply::Type::array || r.elements.size() != 2) {
      res.error = r.str.empty() ? "an unexpected reply to the bucket script" : r.str;
      return res;
    }
    res.ok = true;
    double tokens = number(r.elements[1]);
    res.decision.allowed = number(r.elements[0]) == 1;
    res.decision.remaining = tokens;
    res.decision.retry_after = res.decision.allowed ? 0 : (1 - tokens) / rate;
    res.decision.reset = (burst - tokens) / rate;
    return res;
  };
  auto retry = args; // EVAL with the script, once Redis says it does not know the SHA
  retry[0] = "EVAL";
  retry[1] = script();
  std::weak_ptr<RedisClient> weak = client_; // a reply may outlive the client: never join it
  return client_->command(
      std::move(args), home,
      [weak, home, retry = std::move(retry), finish, done = std::move(done)](RedisReply r) mutable {
        if (r.type == RedisReply::Type::error && r.str.starts_with("NOSCRIPT")) {
          auto shared = std::make_shared<Function<void(Result)>>(std::move(done));
          auto client = weak.lock();
          if (!client ||
              !client->command(std::move(retry), home,
                               [finish, shared](RedisReply again) { (*shared)(finish(again)); }))
            (*shared)(Result{.ok = false, .decision = {}, .error = "the Redis queue is full"});
          return;
        }
        done(finish(std::move(r)));
      });
}

} // namespace lithe::mw
