// sd_listen_fds(3) and sd_notify(3), from their documented protocols (systemd's man pages):
// LISTEN_PID/LISTEN_FDS name fds from 3 on; NOTIFY_SOCKET names a datagram socket (a path, or
// '@' for the abstract namespace) that takes "KEY=VALUE" lines.
#include <lithe/systemd.hpp>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace lithe::systemd {

namespace {

constexpr int listen_fds_start = 3; // SD_LISTEN_FDS_START

bool number(const char* text, unsigned long& out) {
  if (!text || !*text) return false;
  auto [p, ec] = std::from_chars(text, text + std::strlen(text), out);
  return ec == std::errc() && *p == '\0';
}

} // namespace

std::vector<int> listen_fds() {
  std::vector<int> fds;
  unsigned long pid = 0, n = 0;
  bool ours = number(std::getenv("LISTEN_PID"), pid) &&
              pid == static_cast<unsigned long>(::getpid()) && number(std::getenv("LISTEN_FDS"), n);
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  if (!ours) return fds;
  for (unsigned long i = 0; i < n && i < 64; ++i) {
    int fd = listen_fds_start + static_cast<int>(i);
    if (::fcntl(fd, F_SETFD, FD_CLOEXEC) == 0) fds.push_back(fd);
  }
  return fds;
}

bool notify(std::string_view state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || !*path) return false;
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::size_t len = std::strlen(path);
  if (len >= sizeof a.sun_path || (path[0] != '/' && path[0] != '@')) return false;
  std::memcpy(a.sun_path, path, len);
  if (path[0] == '@') a.sun_path[0] = '\0'; // the abstract namespace
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  auto addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
  bool sent =
      ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&a),
               addr_len) == static_cast<ssize_t>(state.size());
  ::close(fd);
  return sent;
}

std::chrono::microseconds watchdog_interval() {
  unsigned long usec = 0, pid = 0;
  if (!number(std::getenv("WATCHDOG_USEC"), usec) || usec == 0) return {};
  if (const char* p = std::getenv("WATCHDOG_PID"))
    if (!number(p, pid) || pid != static_cast<unsigned long>(::getpid())) return {};
  return std::chrono::microseconds(usec);
}

} // namespace lithe::systemd
