// RedisRateStore: mw::rate_limit's token buckets shared by every process that uses the same
// Redis. One Lua script (EVALSHA, EVAL when Redis does not know it yet) refills and takes
// atomically, with Redis's own clock; buckets expire once full. Link lithe::redis.
// docs/rate_limit.md.
#pragma once

#include <lithe/mw/rate_limit.hpp>
#include <lithe/mw/redis_client.hpp>

#include <memory>

namespace lithe::mw {

class RedisRateStore final : public RateStore {
public:
  explicit RedisRateStore(std::shared_ptr<RedisClient> client, std::string prefix = "lithe:rate:");
  bool take(std::string_view key, double rate, double burst, LoopHandle home,
            Function<void(Result)> done) override;
  /// The bucket script, and its SHA-1 as EVALSHA wants it.
  static const std::string& script();
  static const std::string& script_sha();

private:
  std::shared_ptr<RedisClient> client_;
  std::string prefix_;
};

} // namespace lithe::mw
