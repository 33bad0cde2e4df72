// RedisSessionStore: mw::session's data in Redis (GET / SET EX / DEL), the cookie holding only
// a signed random 128-bit id. Every call goes through a RedisClient, so loading never blocks a
// loop; Redis unreachable answers the request 503. Link lithe::redis. docs/session.md.
//
//   auto redis = std::make_shared<mw::RedisClient>(mw::RedisClientOptions{.url = url});
//   b.use(mw::session({.secrets = {s}, .store = std::make_shared<mw::RedisSessionStore>(redis)}));
#pragma once

#include <lithe/mw/redis_client.hpp>
#include <lithe/mw/session.hpp>

#include <memory>

namespace lithe::mw {

struct RedisSessionOptions {
  std::string prefix = "lithe:session:"; // keys are prefix + hex(id)
  std::size_t max_bytes = 64 * 1024;     // the largest serialized session kept
};

class RedisSessionStore final : public SessionStore {
public:
  explicit RedisSessionStore(std::shared_ptr<RedisClient> client, RedisSessionOptions options = {});
  bool load(std::string_view id, LoopHandle home, Function<void(Loaded)> done) override;
  bool save(std::string_view id, std::string data, std::chrono::seconds ttl, LoopHandle home,
            Function<void(std::string error)> done) override;
  void erase(std::string_view id) override;
  std::size_t max_bytes() const noexcept override { return opts_.max_bytes; }
  std::string key(std::string_view id) const;

private:
  std::shared_ptr<RedisClient> client_;
  RedisSessionOptions opts_;
};

} // namespace lithe::mw
