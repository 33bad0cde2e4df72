// RedisBridge: two hiredis connections on two threads of their own, so no loop thread ever
// waits on Redis. The publisher drains a queue bounded in messages and bytes with PUBLISH; the
// subscriber blocks in PSUBSCRIBE's reply stream and hands each message to Hub::deliver
// (thread-safe). Either reconnects after a pause when its connection fails; the destructor wakes
// the subscriber by shutting its socket down.
#include <lithe/mw/metrics.hpp>
#include <lithe/mw/redis_bridge.hpp>
#include <lithe/mw/redis_client.hpp>

#include <lithe/log.hpp>
#include <lithe/str.hpp>

#include <hiredis/hiredis.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <memory>
#include <pthread.h>
#include <stdexcept>
#include <sys/socket.h>
#include <unistd.h>

namespace lithe::mw {

namespace {

struct ContextFree {
  void operator()(redisContext* c) const noexcept { redisFree(c); }
};
using Context = std::unique_ptr<redisContext, ContextFree>;

struct ReplyFree {
  void operator()(void* r) const noexcept { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

Reply command(redisContext* c, const char* fmt, std::string_view a, std::string_view b = {}) {
  return Reply(
      static_cast<redisReply*>(redisCommand(c, fmt, a.data(), a.size(), b.data(), b.size())));
}

std::string_view view(const redisReply* r) {
  return r && r->type == REDIS_REPLY_STRING ? std::string_view(r->str, r->len) : std::string_view();
}

/// An SSE event that needs an id: INCR of the topic's counter and the PUBLISH with that id in
/// one script, so that Redis hands out ids in the order subscribers receive them (a client's
/// Last-Event-ID then means "everything before this", on every process).
Reply publish_with_id(redisContext* c, const std::string& key, const std::string& channel,
                      const HubMessage& m) {
  static constexpr std::string_view script =
      "local id = redis.call('INCR', KEYS[1]) "
      "redis.call('PUBLISH', KEYS[2], ARGV[1] .. tostring(id) .. ARGV[2]) return id";
  // RedisBridge::encode's header with the id in its place: "\0e" ID " " EVENT "\n" DATA.
  std::string head("\0e", 2), tail = " " + m.event + "\n" + m.data;
  const char* argv[] = {"EVAL",         script.data(), "2",        key.data(),
                        channel.data(), head.data(),   tail.data()};
  const std::size_t len[] = {4,           script.size(), 1, key.size(), channel.size(),
                             head.size(), tail.size()};
  return Reply(static_cast<redisReply*>(redisCommandArgv(c, 7, argv, len)));
}

/// What a queued message holds in memory, as RedisOptions::max_queued_bytes counts it.
std::size_t footprint(const HubMessage& m) {
  return m.topic.size() + m.data.size() + m.event.size() + m.frame.size();
}

} // namespace

RedisBridge::RedisBridge(Hub& hub, RedisOptions options)
    : hub_(hub), opts_(std::move(options)),
      sync_topic_("\x01sync:" + std::to_string(::getpid()) + ":" +
                  std::to_string(reinterpret_cast<std::uintptr_t>(this))) {
  if (!parse_redis_url(opts_.url, host_, port_))
    throw std::invalid_argument("RedisBridge: the url must be redis://host[:port] or "
                                "unix:/path, not \"" +
                                opts_.url + "\"");
  hub_.set_relay([this](HubMessage&& m) { return enqueue(std::move(m)); }, true);
  // hiredis writes with write(2): a connection Redis dropped would raise SIGPIPE. Blocked in
  // the bridge's threads (they inherit this mask), the write fails with EPIPE instead.
  sigset_t pipe, old;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, &old);
  pub_thread_ = std::thread([this] { publisher(); });
  sub_thread_ = std::thread([this] { subscriber(); });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

RedisBridge::~RedisBridge() {
  hub_.set_relay(nullptr);
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    if (sub_fd_ >= 0) ::shutdown(sub_fd_, SHUT_RDWR);
  }
  cv_.notify_all();
  pub_thread_.join();
  sub_thread_.join();
}

bool RedisBridge::connected() const noexcept {
  std::lock_guard lock(mu_);
  return subscribed_ && publishing_;
}

bool RedisBridge::wait_connected(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [this] { return subscribed_ && publishing_; });
}

RedisStats RedisBridge::stats() const noexcept {
  RedisStats s{published_.load(), received_.load(), dropped_.load(), reconnects_.load()};
  std::lock_guard lock(mu_);
  s.queued = queue_.size() + in_flight_;
  s.queued_bytes = queued_bytes_;
  return s;
}

void add_redis_metrics(Metrics& metrics, const RedisBridge& bridge) {
  auto add = [&](const char* name, const char* help, const char* type, auto field) {
    metrics.add({.name = name, .help = help, .type = type, .read = [&bridge, field] {
                   return double(bridge.stats().*field);
                 }});
  };
  metrics.add({.name = "lithe_redis_connected",
               .help = "1 while the Redis bridge is subscribed and able to publish.",
               .read = [&bridge] { return bridge.connected() ? 1.0 : 0.0; }});
  add("lithe_redis_queued", "Publishes waiting for Redis.", "gauge", &RedisStats::queued);
  add("lithe_redis_queued_bytes", "Their bytes (RedisOptions::max_queued_bytes bounds them).",
      "gauge", &RedisStats::queued_bytes);
  add("lithe_redis_published_total", "PUBLISH commands Redis acknowledged.", "counter",
      &RedisStats::published);
  add("lithe_redis_received_total", "Messages from Redis delivered to the hub.", "counter",
      &RedisStats::received);
  add("lithe_redis_dropped_total", "Publishes refused because the queue was full.", "counter",
      &RedisStats::dropped);
  add("lithe_redis_reconnects_total", "Redis connections lost and made again.", "counter",
      &RedisStats::reconnects);
}

bool RedisBridge::sync(std::chrono::milliseconds timeout) {
  std::uint64_t mine;
  {
    std::lock_guard lock(mu_);
    mine = ++syncs_asked_;
  }
  if (!enqueue(HubMessage{.topic = sync_topic_, .data = std::to_string(mine)})) return false;
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return syncs_seen_ >= mine || stopping_; }) &&
         syncs_seen_ >= mine;
}

bool RedisBridge::enqueue(HubMessage&& m) {
  const std::size_t bytes = footprint(m);
  {
    std::lock_guard lock(mu_);
    // The message being sent still counts: its memory is held until Redis acknowledged it.
    if (queue_.size() + in_flight_ >= opts_.max_queued ||
        bytes > opts_.max_queued_bytes - std::min(queued_bytes_, opts_.max_queued_bytes)) {
      if (dropped_.fetch_add(1) == 0)
        log_error("RedisBridge: the publish queue is full (" + std::to_string(opts_.max_queued) +
                  " messages or " + std::to_string(opts_.max_queued_bytes) +
                  " bytes; Redis unreachable or slow?); dropping publishes");
      return false;
    }
    queue_.push_back(std::move(m));
    queued_bytes_ += bytes;
  }
  cv_.notify_all();
  return true;
}

bool RedisBridge::pause(std::unique_lock<std::mutex>& lock) {
  return !cv_.wait_for(lock, opts_.reconnect_delay, [this] { return stopping_; });
}

namespace {

Context connect(const std::string& host, int port, bool& reported) {
  const timeval tv{1, 0};
  Context c(port ? redisConnectWithTimeout(host.c_str(), port, tv)
                 : redisConnectUnixWithTimeout(host.c_str(), tv));
  if (c && !c->err) {
    if (reported) log_error("RedisBridge: connected to Redis again");
    reported = false;
    return c;
  }
  if (!reported) {
    std::string where = host;
    if (port) where.append(":").append(std::to_string(port));
    log_error("RedisBridge: cannot reach Redis at " + where + ": " +
              (c ? c->errstr : "out of memory") + "; retrying");
  }
  reported = true;
  return nullptr;
}

} // namespace

void RedisBridge::publisher() {
  bool reported = false;
  Context c;
  std::unique_lock lock(mu_);
  for (;;) {
    if (!c) {
      lock.unlock();
      c = connect(host_, port_, reported);
      if (c) redisSetTimeout(c.get(), timeval{2, 0}); // a PUBLISH never hangs the stop
      lock.lock();
      publishing_ = c != nullptr;
      cv_.notify_all();
      if (!c) {
        if (!pause(lock)) return;
        continue;
      }
    }
    // Wait for our own subscription too, so this process's subscribers miss nothing after a
    // reconnect; at stop, send what is queued while the connection holds.
    cv_.wait(lock, [this] { return stopping_ || (!queue_.empty() && subscribed_); });
    if (queue_.empty()) return; // stopping, all sent
    HubMessage m = std::move(queue_.front());
    queue_.pop_front();
    in_flight_ = 1;
    lock.unlock();
    std::string channel = opts_.prefix + m.topic;
    Reply r = m.assign_id ? publish_with_id(c.get(), opts_.prefix + "id:" + m.topic, channel, m)
                          : command(c.get(), "PUBLISH %b %b", channel, encode(m));
    lock.lock();
    in_flight_ = 0;
    if (r && r->type != REDIS_REPLY_ERROR) {
      queued_bytes_ -= footprint(m);
      published_.fetch_add(1);
      continue;
    }
    if (r) log_error("RedisBridge: PUBLISH failed: " + std::string(r->str, r->len));
    if (r && m.assign_id) { // a script Redis refuses (no EVAL allowed?) would fail forever
      queued_bytes_ -= footprint(m);
      dropped_.fetch_add(1);
      continue;
    }
    queue_.push_front(std::move(m)); // sent again on the next connection
    c.reset();
    publishing_ = false;
    reconnects_.fetch_add(1);
    if (stopping_ || !pause(lock)) return;
  }
}

void RedisBridge::subscriber() {
  bool reported = false;
  const std::string pattern = opts_.prefix + "*";
  for (;;) {
    {
      std::unique_lock lock(mu_);
      if (stopping_) return;
    }
    Context c = connect(host_, port_, reported);
    if (c) {
      {
        std::lock_guard lock(mu_);
        if (stopping_) return;
        sub_fd_ = c->fd;
      }
      Reply r = command(c.get(), "PSUBSCRIBE %b", pattern);
      bool ok = r && r->type == REDIS_REPLY_ARRAY;
      if (ok) {
        std::lock_guard lock(mu_);
        subscribed_ = true;
      }
      cv_.notify_all();
      while (ok) {
        void* raw = nullptr;
        if (redisGetReply(c.get(), &raw) != REDIS_OK) break;
        Reply msg(static_cast<redisReply*>(raw));
        // ["pmessage", pattern, channel, payload]
        if (msg->type != REDIS_REPLY_ARRAY || msg->elements != 4 ||
            view(msg->element[0]) != "pmessage")
          continue;
        std::string_view channel = view(msg->element[2]);
        if (!channel.starts_with(opts_.prefix)) continue;
        if (channel.substr(opts_.prefix.size()) == sync_topic_) { // sync()'s marker is back
          auto n = parse_u64(view(msg->element[3]));
          {
            std::lock_guard lock(mu_);
            if (n && *n > syncs_seen_) syncs_seen_ = *n;
          }
          cv_.notify_all();
          continue;
        }
        received_.fetch_add(1);
        hub_.deliver(
            decode(std::string(channel.substr(opts_.prefix.size())), view(msg->element[3])));
      }
      std::lock_guard lock(mu_);
      sub_fd_ = -1;
      subscribed_ = false;
      if (stopping_) return;
      reconnects_.fetch_add(1);
    }
    std::unique_lock lock(mu_);
    if (!pause(lock)) return;
  }
}

std::string RedisBridge::encode(const HubMessage& m) {
  std::string header;
  if (m.binary)
    header.assign("\0b", 2);
  else if (!m.event.empty() || m.id != 0)
    header.assign("\0e", 2).append(std::to_string(m.id)).append(" ").append(m.event).append("\n");
  else if (!m.data.empty() && m.data[0] == '\0')
    header.assign("\0t", 2);
  header.append(m.data);
  return header;
}

HubMessage RedisBridge::decode(std::string topic, std::string_view p) {
  HubMessage m;
  m.topic = std::move(topic);
  if (p.size() >= 2 && p[0] == '\0') {
    std::string_view rest = p.substr(2);
    switch (p[1]) {
    case 'b':
      m.binary = true;
      m.data = rest;
      return m;
    case 't':
      m.data = rest;
      return m;
    case 'e': {
      std::size_t space = rest.find(' '), nl = rest.find('\n');
      auto id = parse_u64(rest.substr(0, space));
      if (space != std::string_view::npos && nl != std::string_view::npos && space < nl && id) {
        m.id = *id;
        m.event = rest.substr(space + 1, nl - space - 1);
        m.data = rest.substr(nl + 1);
        return m;
      }
      break;
    }
    default:
      break;
    }
  }
  m.data = p; // text as published (or a header this version does not know: kept whole)
  return m;
}

} // namespace lithe::mw
