// A real redis-server for the integration tests (the Hub's bridge, the session and rate
// stores): on a Unix socket in a fresh directory, started and stopped (by its pid) by the test.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace lithe::test {

/// redis-server on a Unix socket in a fresh directory, stopped (by its pid) on destruction.
class RedisServer {
public:
  RedisServer() {
    char tmpl[] = "/tmp/lithe-redis.XXXXXX";
    REQUIRE(::mkdtemp(tmpl));
    dir_ = tmpl;
    socket_ = dir_ + "/redis.sock";
    start();
  }
  ~RedisServer() {
    stop();
    std::filesystem::remove_all(dir_);
  }
  void start() {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", socket_.c_str(),
               "--save", "", "--appendonly", "no", "--dir", dir_.c_str(), "--logfile", "redis.log",
               static_cast<char*>(nullptr));
      std::_Exit(127);
    }
    REQUIRE(pid_ > 0);
    REQUIRE(answers());
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL); // gone at once, as a crash would be
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    std::filesystem::remove(socket_);
  }
  std::string url() const { return "unix:" + socket_; }
  const std::string& socket() const { return socket_; }

private:
  /// Polls (bounded) until the socket accepts a connection.
  bool answers() const {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
      sockaddr_un a{};
      a.sun_family = AF_UNIX;
      socket_.copy(a.sun_path, sizeof a.sun_path - 1);
      bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      ::close(fd);
      if (ok) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  std::string dir_, socket_;
  pid_t pid_ = -1;
};

} // namespace lithe::test
