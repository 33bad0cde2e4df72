// Socket helpers for backends.
#include <lithe/detail/net.hpp>

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace lithe::detail {

int listen_tcp(const std::string& host, std::uint16_t port, int backlog, std::error_code& ec,
               bool first) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0) {
    ec = std::make_error_code(std::errc::address_not_available);
    return -1;
  }
  int fd = -1;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      ec = std::error_code(errno, std::system_category());
      continue;
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (first && port != 0) {
      // SO_REUSEPORT would let us join another server's port without a word: a plain bind
      // first, so a port in use fails here with EADDRINUSE, as any server's would.
      if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        ec = std::error_code(errno, std::system_category());
        ::close(fd);
        fd = -1;
        continue;
      }
      ::close(fd);
      fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
      if (fd < 0) {
        ec = std::error_code(errno, std::system_category());
        continue;
      }
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    }
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, backlog) == 0) {
      ec.clear();
      break;
    }
    ec = std::error_code(errno, std::system_category());
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(res);
  return fd;
}

int listen_unix(const std::string& path, unsigned mode, int backlog, std::error_code& ec) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof a.sun_path) {
    ec = std::make_error_code(std::errc::filename_too_long);
    return -1;
  }
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      ec = std::make_error_code(std::errc::file_exists); // never remove what is not ours
      return -1;
    }
    int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool live = probe >= 0 && ::connect(probe, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    if (probe >= 0) ::close(probe);
    if (live) {
      ec = std::make_error_code(std::errc::address_in_use);
      return -1;
    }
    ::unlink(path.c_str()); // left by a server that is gone
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ec = std::error_code(errno, std::system_category());
    return -1;
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      (mode != 0 && ::chmod(path.c_str(), mode) != 0) || ::listen(fd, backlog) != 0) {
    ec = std::error_code(errno, std::system_category());
    ::close(fd);
    return -1;
  }
  ec.clear();
  return fd;
}

std::uint16_t local_port(int fd) noexcept {
  PeerAddress a{};
  socklen_t len = sizeof a;
  if (::getsockname(fd, &a.sa, &len) != 0) return 0;
  if (a.sa.sa_family != AF_INET && a.sa.sa_family != AF_INET6) return 0; // a unix socket
  return ntohs(a.sa.sa_family == AF_INET6 ? a.v6.sin6_port : a.v4.sin_port);
}

PeerIp PeerIp::of(const PeerAddress& a) noexcept {
  PeerIp ip;
  if (a.sa.sa_family == AF_INET6) {
    ip.addr = a.v6.sin6_addr;
  } else if (a.sa.sa_family == AF_INET) {
    ip.addr.s6_addr[10] = ip.addr.s6_addr[11] = 0xff;
    std::memcpy(&ip.addr.s6_addr[12], &a.v4.sin_addr, 4);
  } else if (a.sa.sa_family == AF_UNIX) {
    ip.addr.s6_addr[10] = ip.addr.s6_addr[11] = 0xff;
    ip.addr.s6_addr[12] = 127;
    ip.addr.s6_addr[15] = 1;
  }
  return ip;
}

std::size_t format_address(const PeerIp& ip, char* out, std::size_t cap) noexcept {
  if (IN6_IS_ADDR_V4MAPPED(&ip.addr)) {
    // Every request asks (REMOTE_ADDR), and glibc's inet_ntop formats IPv4 through sprintf:
    // the digits by hand cost a tenth of that.
    char tmp[INET_ADDRSTRLEN];
    char* p = tmp;
    for (int i = 12; i < 16; ++i) {
      const unsigned b = ip.addr.s6_addr[i];
      if (i > 12) *p++ = '.';
      if (b >= 100) *p++ = static_cast<char>('0' + b / 100);
      if (b >= 10) *p++ = static_cast<char>('0' + b / 10 % 10);
      *p++ = static_cast<char>('0' + b % 10);
    }
    auto n = static_cast<std::size_t>(p - tmp);
    if (n >= cap) return 0;
    std::memcpy(out, tmp, n);
    out[n] = '\0';
    return n;
  }
  if (!::inet_ntop(AF_INET6, &ip.addr, out, static_cast<socklen_t>(cap))) return 0;
  return std::strlen(out);
}

std::size_t send_file(int sock, int fd, std::uint64_t offset, std::size_t len,
                      std::error_code& ec) noexcept {
  auto off = static_cast<off_t>(offset);
  for (;;) {
    ssize_t n = ::sendfile(sock, fd, &off, len);
    if (n > 0) return static_cast<std::size_t>(n);
    if (n == 0) {
      ec = std::make_error_code(std::errc::io_error); // the file is shorter than promised
      return 0;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    ec = std::error_code(errno, std::system_category());
    return 0;
  }
}

void set_nodelay(int fd) noexcept {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

} // namespace lithe::detail
