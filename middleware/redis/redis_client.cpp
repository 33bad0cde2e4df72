// RedisClient: one hiredis connection on one thread; a bounded queue in front of it; replies
// posted to the loops that asked. A failed connect makes commands fail at once until
// reconnect_delay has passed, so a Redis that is down costs a request a post, not a wait.
#include <lithe/mw/redis_client.hpp>

#include <lithe/log.hpp>
#include <lithe/str.hpp>

#include <hiredis/hiredis.h>

#include <csignal>
#include <memory>
#include <pthread.h>
#include <stdexcept>

namespace lithe::mw {

namespace {

struct ContextFree {
  void operator()(redisContext* c) const noexcept { redisFree(c); }
};
using Context = std::unique_ptr<redisContext, ContextFree>;

RedisReply convert(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
  case REDIS_REPLY_ERROR:
    out.type = RedisReply::Type::error;
    out.str.assign(r->str, r->len);
    break;
  case REDIS_REPLY_STATUS:
    out.type = RedisReply::Type::status;
    out.str.assign(r->str, r->len);
    break;
  case REDIS_REPLY_STRING:
    out.type = RedisReply::Type::string;
    out.str.assign(r->str, r->len);
    break;
  case REDIS_REPLY_INTEGER:
    out.type = RedisReply::Type::integer;
    out.integer = r->integer;
    break;
  case REDIS_REPLY_ARRAY:
    out.type = RedisReply::Type::array;
    for (std::size_t i = 0; i < r->elements; ++i)
      out.elements.push_back(convert(r->element[i]));
    break;
  default:
    out.type = RedisReply::Type::nil;
    break;
  }
  return out;
}

RedisReply unavailable(std::string why) {
  RedisReply r;
  r.str = std::move(why);
  return r;
}

} // namespace

RedisClient::RedisClient(RedisClientOptions options) : opts_(std::move(options)) {
  std::string_view url = opts_.url;
  if (url.starts_with("unix:") && url.size() > 5) {
    host_ = url.substr(5);
  } else if (url.starts_with("redis://") && url.size() > 8) {
    std::string_view rest = url.substr(8);
    std::size_t colon = rest.rfind(':');
    host_ = rest.substr(0, colon);
    port_ = 6379;
    if (colon != std::string_view::npos) {
      auto p = parse_u64(rest.substr(colon + 1));
      port_ = p && *p > 0 && *p < 65536 ? static_cast<int>(*p) : -1;
    }
  }
  if (host_.empty() || port_ < 0)
    throw std::invalid_argument("RedisClient: the url must be redis://host[:port] or unix:/path, "
                                "not \"" +
                                opts_.url + "\"");
  // A connection Redis dropped raises SIGPIPE on write; blocked in the client's thread (which
  // inherits this mask), the write fails with EPIPE instead.
  sigset_t pipe, old;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, &old);
  thread_ = std::thread([this] { run(); });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

RedisClient::~RedisClient() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

bool RedisClient::command(std::vector<std::string> argv, LoopHandle home,
                          Function<void(RedisReply)> done) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= opts_.max_queued) return false;
    queue_.push_back(Job{std::move(argv), std::move(home), std::move(done)});
  }
  cv_.notify_one();
  return true;
}

void RedisClient::answer(Job& job, RedisReply reply) {
  if (!job.done) return;
  job.home.post(
      [done = std::move(job.done), r = std::move(reply)]() mutable { done(std::move(r)); });
}

void RedisClient::run() {
  Context c;
  std::string last_error;
  bool reported = false;
  auto next_attempt = std::chrono::steady_clock::time_point{};
  const timeval tv{static_cast<long>(opts_.timeout.count() / 1000),
                   static_cast<long>(opts_.timeout.count() % 1000 * 1000)};
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) {
        for (Job& j : queue_)
          answer(j, unavailable("the Redis client is stopping"));
        queue_.clear();
        return;
      }
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    if (!c && std::chrono::steady_clock::now() >= next_attempt) {
      c.reset(port_ ? redisConnectWithTimeout(host_.c_str(), port_, tv)
                    : redisConnectUnixWithTimeout(host_.c_str(), tv));
      if (c && !c->err) {
        redisSetTimeout(c.get(), tv);
        if (reported) log_error("RedisClient: connected to Redis again");
        reported = false;
        connected_ = true;
      } else {
        last_error = "cannot reach Redis at " + opts_.url + ": " + (c ? c->errstr : "no memory");
        c.reset();
        next_attempt = std::chrono::steady_clock::now() + opts_.reconnect_delay;
        if (!reported) log_error("RedisClient: " + last_error);
        reported = true;
      }
    }
    if (!c) {
      failures_.fetch_add(1);
      answer(job, unavailable(last_error));
      continue;
    }
    std::vector<const char*> args;
    std::vector<std::size_t> lens;
    for (const std::string& a : job.argv) {
      args.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* raw = static_cast<redisReply*>(
        redisCommandArgv(c.get(), static_cast<int>(args.size()), args.data(), lens.data()));
    if (!raw) {
      last_error = std::string("the connection to Redis failed: ") + c->errstr;
      c.reset();
      connected_ = false;
      failures_.fetch_add(1);
      if (!reported) log_error("RedisClient: " + last_error);
      reported = true;
      answer(job, unavailable(last_error));
      continue; // the next command tries to connect again at once
    }
    RedisReply reply = convert(raw);
    freeReplyObject(raw);
    answer(job, std::move(reply));
  }
}

} // namespace lithe::mw
