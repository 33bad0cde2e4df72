// Test support: a real redis-server on a Unix socket in a fresh directory, started by the test
// and stopped by its pid (SIGKILL, as a crash would stop it), for the tests that share a Hub
// across processes (redis_test, restart_test, deploy_test).
#pragma once

#include <string>
#include <sys/types.h>

namespace lithe::test {

class RedisServer {
public:
  /// Starts it and waits (bounded) until its socket accepts; throws if it does not.
  RedisServer();
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;
  /// Starts it again on the same socket (after stop()).
  void start();
  /// Kills it at once and removes its socket.
  void stop();
  /// "unix:/tmp/lithe-redis.XXXXXX/redis.sock", as RedisOptions::url and --redis take it.
  std::string url() const { return "unix:" + socket_; }
  const std::string& socket() const { return socket_; }

private:
  bool answers() const;
  std::string dir_, socket_;
  pid_t pid_ = -1;
};

} // namespace lithe::test
