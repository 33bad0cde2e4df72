// lithe-attack: hostile clients that keep attacking for a while, for bench/hostile to measure
// what an attack does to normal clients' latency (the hostile suite, tests/hostile, checks
// memory and correctness; this keeps the pressure on). Connections the server closes are
// opened again, so the attack lasts. Loopback only.
//   pipeline PORT CONNS SECONDS        pipelined GET / sent as fast as taken, never read
//   chunks PORT CONNS SECONDS          a chunked POST of 1-byte chunks that never ends
//   ws-ping PORT CONNS SECONDS         WebSocket pings as fast as taken, never read
//   ws-bomb PORT CONNS SECONDS         compressed messages that inflate to 64 MiB (1009 each)
//   ws-fragments PORT CONNS SECONDS    1-byte continuation frames without end
//   range PORT PATH CONNS SECONDS      GET PATH with 16 overlapping ranges, never read
//   silent PORT CONNS SECONDS          connections that say nothing
#include "ws_wire.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Conn {
  int fd = -1;
  std::size_t at = 0; // position in opening, then in repeat (cyclic), so frames stay whole
  bool opened = false;
};

struct Attack {
  std::string opening; // sent once per connection (request head, upgrade and first frame)
  std::string repeat;  // then sent again and again while the socket takes it
  bool reads = false;  // reads and drops what the server sends
  int rcvbuf = 4096;   // small: the server's answers back up
};

int open_one(int port, int rcvbuf) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// A client frame with a zero mask (the payload goes as it is).
std::string frame(unsigned char first, const std::string& payload) {
  static const unsigned char zero[4] = {0, 0, 0, 0};
  return lithe::wire::masked_frame(first, payload, zero);
}

std::string upgrade(bool deflate) {
  return std::string("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n") +
         (deflate ? "Sec-WebSocket-Extensions: permessage-deflate\r\n" : "") + "\r\n";
}

int run(int port, int conns, int seconds, const Attack& a) {
  std::vector<Conn> cs(static_cast<std::size_t>(conns));
  std::vector<pollfd> pfds(cs.size());
  long opened = 0;
  std::size_t bytes = 0;
  char buf[65536];
  auto end = Clock::now() + std::chrono::seconds(seconds);
  while (Clock::now() < end) {
    for (std::size_t i = 0; i < cs.size(); ++i) {
      Conn& c = cs[i];
      if (c.fd < 0) {
        c = Conn{};
        c.fd = open_one(port, a.rcvbuf);
        c.opened = a.opening.empty();
        ++opened;
      }
      short want = POLLRDHUP | (a.reads ? POLLIN : 0);
      if (!c.opened || !a.repeat.empty()) want |= POLLOUT;
      pfds[i] = {c.fd, want, 0};
    }
    if (::poll(pfds.data(), pfds.size(), 50) < 0) continue;
    for (std::size_t i = 0; i < cs.size(); ++i) {
      Conn& c = cs[i];
      short ev = pfds[i].revents;
      bool gone = ev & (POLLERR | POLLHUP | POLLRDHUP);
      if (!gone && (ev & POLLIN)) gone = ::recv(c.fd, buf, sizeof buf, 0) <= 0;
      if (gone) { // the server closed it: open another
        ::close(c.fd);
        c.fd = -1;
        continue;
      }
      if (!(ev & POLLOUT)) continue;
      const std::string& s = c.opened ? a.repeat : a.opening;
      ssize_t n = ::send(c.fd, s.data() + c.at, s.size() - c.at, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n <= 0) continue;
      bytes += static_cast<std::size_t>(n);
      c.at += static_cast<std::size_t>(n);
      if (c.at == s.size()) {
        c.at = 0;
        c.opened = true;
      }
    }
  }
  for (Conn& c : cs)
    if (c.fd >= 0) ::close(c.fd);
  std::printf("connections_opened %ld\nbytes_sent %zu\n", opened, bytes);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  auto num = [&](int i) { return i < argc ? std::atoi(argv[i]) : 0; };
  Attack a;
  int port = num(2), conns = num(3), seconds = num(4);
  if (mode == "pipeline" && argc == 5) {
    for (int i = 0; i < 100; ++i)
      a.repeat += "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
  } else if (mode == "chunks" && argc == 5) {
    a.opening = "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 1000; ++i)
      a.repeat += "1\r\nx\r\n";
  } else if (mode == "ws-ping" && argc == 5) {
    a.opening = upgrade(false); // frames may follow the upgrade request at once
    for (int i = 0; i < 100; ++i)
      a.repeat += frame(0x89, std::string(125, 'p'));
  } else if (mode == "ws-bomb" && argc == 5) {
    a.opening = upgrade(true) + frame(0x80 | 0x40 | 0x2, lithe::wire::deflate_zeros(64u << 20));
    a.reads = true; // the 101 and the close 1009, then another connection
  } else if (mode == "ws-fragments" && argc == 5) {
    a.opening = upgrade(false) + frame(0x01, "x"); // a message's first fragment...
    for (int i = 0; i < 1000; ++i)
      a.repeat += frame(0x00, "x"); // ...and continuations that never end it
  } else if (mode == "range" && argc == 6) {
    std::string path = argv[3];
    conns = num(4);
    seconds = num(5);
    std::string ranges = "bytes=0-";
    for (int i = 1; i < 16; ++i) { // piece by piece: g++ 12 warns (-Wrestrict) on "," + s
      ranges += ',';
      ranges += std::to_string(i);
      ranges += '-';
    }
    a.opening = "GET " + path + " HTTP/1.1\r\nHost: t\r\nRange: " + ranges + "\r\n\r\n";
  } else if (mode == "silent" && argc == 5) {
    // opens and holds
  } else {
    std::fprintf(stderr,
                 "usage: lithe-attack pipeline|chunks|ws-ping|ws-bomb|ws-fragments|silent PORT "
                 "CONNS SECONDS\n       lithe-attack range PORT PATH CONNS SECONDS\n");
    return 2;
  }
  return run(port, conns, seconds, a);
}
