// RedisSessionStore: GET, SET EX and DEL through a RedisClient; a reply that is not what the
// command answers when it works counts as the store being unavailable.
#include <lithe/mw/redis_session.hpp>

namespace lithe::mw {

RedisSessionStore::RedisSessionStore(std::shared_ptr<RedisClient> client,
                                     RedisSessionOptions options)
    : client_(std::move(client)), opts_(std::move(options)) {}

std::string RedisSessionStore::key(std::string_view id) const {
  static constexpr char hex[] = "0123456789abcdef";
  std::string k = opts_.prefix;
  for (char c : id) {
    auto u = static_cast<unsigned char>(c);
    k.push_back(hex[u >> 4]);
    k.push_back(hex[u & 15]);
  }
  return k;
}

bool RedisSessionStore::load(std::string_view id, LoopHandle home, Function<void(Loaded)> done) {
  return client_->command({"GET", key(id)}, std::move(home),
                          [done = std::move(done)](RedisReply r) mutable {
                            Loaded l;
                            if (r.type == RedisReply::Type::string) {
                              l.status = Status::found;
                              l.data = std::move(r.str);
                            } else if (r.type == RedisReply::Type::nil) {
                              l.status = Status::missing;
                            } else {
                              l.status = Status::unavailable;
                              l.reason = std::move(r.str);
                            }
                            done(std::move(l));
                          });
}

bool RedisSessionStore::save(std::string_view id, std::string data, std::chrono::seconds ttl,
                             LoopHandle home, Function<void(std::string)> done) {
  return client_->command(
      {"SET", key(id), std::move(data), "EX", std::to_string(std::max<long long>(1, ttl.count()))},
      std::move(home), [done = std::move(done)](RedisReply r) mutable {
        done(r.ok() ? std::string() : r.str.empty() ? "no reply" : r.str);
      });
}

void RedisSessionStore::erase(std::string_view id) {
  client_->command({"DEL", key(id)}, LoopHandle(), nullptr);
}

} // namespace lithe::mw
