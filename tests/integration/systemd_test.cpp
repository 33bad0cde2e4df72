// systemd's side of an app (server/src/systemd.cpp) with systemd's own tool: started by
// systemd-socket-activate on a socket it opened, the app serves that socket and tells
// $NOTIFY_SOCKET READY (with its pid and where it listens), WATCHDOG at half of
// $WATCHDOG_USEC, and STOPPING when it is asked to stop.
#include "support/app_process.hpp"
#include "support/backends.hpp"
#include "support/net_client.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace lithe;
using namespace lithe::test;

namespace {

/// A datagram socket standing in for systemd's notification socket.
class NotifySocket {
public:
  NotifySocket() {
    char tmpl[] = "/tmp/lithe-notify.XXXXXX";
    REQUIRE(::mkdtemp(tmpl));
    dir_ = tmpl;
    path_ = dir_ + "/notify.sock";
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    path_.copy(a.sun_path, sizeof a.sun_path - 1);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  ~NotifySocket() {
    ::close(fd_);
    std::filesystem::remove_all(dir_);
  }
  const std::string& path() const noexcept { return path_; }
  /// The next message, or "" at the deadline.
  std::string next(std::chrono::milliseconds within = 5s) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(within.count())) != 1) return {};
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  }
  /// Waits for a message starting with `what`; the messages before it are dropped.
  std::string wait_for(std::string_view what, std::chrono::milliseconds within = 5s) {
    auto deadline = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < deadline) {
      std::string m = next(std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now()));
      if (m.starts_with(what)) return m;
    }
    return {};
  }

private:
  std::string dir_, path_;
  int fd_ = -1;
};

} // namespace

TEMPLATE_TEST_CASE("Socket activation: the app serves systemd's socket and notifies READY, "
                   "WATCHDOG and STOPPING",
                   "[systemd]", LITHE_BACKENDS) {
  NotifySocket notify;
  std::uint16_t port = free_port();
  std::string listen = "127.0.0.1:" + std::to_string(port);
  // systemd-socket-activate opens the socket and execs the app with it (LISTEN_FDS=1) when
  // the first connection comes, as a socket unit with Accept=no does.
  Daemon activator({"systemd-socket-activate", "-l", listen, "-E", "NOTIFY_SOCKET=" + notify.path(),
                    "-E", "WATCHDOG_USEC=300000", app_path("hello"), "--backend", TestType::name,
                    "--threads", "2"});
  pid_t pid = activator.pid();
  REQUIRE(accepting(port));
  auto r = run_process({"curl", "-sS", "--max-time", "10", "http://" + listen + "/"});
  CHECK(r.out == "Hello, World!");
  std::string ready = notify.wait_for("READY=1");
  CHECK(ready.find("MAINPID=" + std::to_string(pid)) != std::string::npos); // exec'd in place
  CHECK(ready.find("STATUS=listening on " + listen + " (from systemd)") != std::string::npos);
  // Two watchdog pings within about two intervals (one every 150 ms).
  CHECK(notify.wait_for("WATCHDOG=1", 1s) == "WATCHDOG=1");
  CHECK(notify.wait_for("WATCHDOG=1", 1s) == "WATCHDOG=1");
  int status = activator.stop(SIGTERM);
  CHECK(notify.wait_for("STOPPING=1") == "STOPPING=1");
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
