// RedisClient: commands to Redis from loop threads without blocking them. Commands wait in a
// bounded queue; a thread of the client's own runs them one at a time over one hiredis
// connection and posts each reply to the loop that asked. When Redis is unreachable every
// command fails fast (no hang): a reconnect is tried at most once per reconnect_delay. Link
// lithe::redis. Used by RedisSessionStore and RedisRateStore.
#pragma once

#include <lithe/function.hpp>
#include <lithe/loop.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace lithe::mw {

struct RedisReply {
  enum class Type : unsigned char { unavailable, error, nil, status, string, integer, array };
  Type type = Type::unavailable;
  std::string str; // the string, status or error text (unavailable: why)
  long long integer = 0;
  std::vector<RedisReply> elements;
  bool ok() const noexcept { return type != Type::unavailable && type != Type::error; }
};

struct RedisClientOptions {
  /// "redis://host[:port]" (6379 by default) or "unix:/path/to/redis.sock".
  std::string url = "redis://127.0.0.1:6379";
  /// Commands waiting; past it command() refuses at once.
  std::size_t max_queued = 1024;
  /// Connecting, and each command's reply, time out after this.
  std::chrono::milliseconds timeout{1000};
  /// After a failed connect, commands fail at once for this long before the next attempt.
  std::chrono::milliseconds reconnect_delay{200};
};

class RedisClient {
public:
  /// Starts the thread (connecting on the first command). Throws std::invalid_argument for a
  /// URL of neither form.
  explicit RedisClient(RedisClientOptions options = {});
  /// Commands still queued are answered `unavailable`; the thread is joined.
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  /// Queues `argv` (binary-safe); `done` runs on `home`'s loop with the reply. False, and `done`
  /// dropped unrun, when the queue is full or the client stopping. A null `done` is allowed.
  bool command(std::vector<std::string> argv, LoopHandle home, Function<void(RedisReply)> done);
  bool connected() const noexcept { return connected_.load(); }
  /// Commands answered `unavailable` so far.
  long failures() const noexcept { return failures_.load(); }

private:
  struct Job {
    std::vector<std::string> argv;
    LoopHandle home;
    Function<void(RedisReply)> done;
  };
  void run();
  static void answer(Job& job, RedisReply reply);

  RedisClientOptions opts_;
  std::string host_;
  int port_ = 0; // 0: a unix socket at host_
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_; // under mu_
  bool stopping_ = false; // under mu_
  std::atomic<bool> connected_{false};
  std::atomic<long> failures_{0};
  std::thread thread_;
};

} // namespace lithe::mw
