// The floor: the least a server can do on this kernel. One thread, edge-triggered epoll,
// counts request ends ("\r\n\r\n") in what it reads and writes that many canned responses.
// No parsing, no headers, no timers: bench/run shows how far each real server is from it.
#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {
const char response[] = "HTTP/1.1 200 OK\r\nServer: floor\r\nContent-Type: text/plain\r\n"
                        "Content-Length: 13\r\n\r\nHello, World!";
struct Conn {
  int fd;
  int tail = 0; // how many bytes of "\r\n\r\n" the previous read ended with
};
} // namespace

int main(int argc, char** argv) {
  int port = argc > 1 ? std::atoi(argv[1]) : 8080;
  std::signal(SIGPIPE, SIG_IGN);
  int ls = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  ::setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(ls, 4096) != 0) {
    std::perror("floor: listen");
    return 1;
  }
  std::printf("floor listening on http://127.0.0.1:%d\n", port);
  std::fflush(stdout);
  int ep = ::epoll_create1(0);
  epoll_event ev{EPOLLIN, {.ptr = nullptr}};
  ::epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  static char buf[65536];
  std::string out;
  epoll_event events[256];
  for (;;) {
    int n = ::epoll_wait(ep, events, 256, -1);
    for (int i = 0; i < n; ++i) {
      if (!events[i].data.ptr) {
        for (;;) {
          int fd = ::accept4(ls, nullptr, nullptr, SOCK_NONBLOCK);
          if (fd < 0) break;
          ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          epoll_event cev{EPOLLIN | EPOLLET, {.ptr = new Conn{fd}}};
          ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
        }
        continue;
      }
      auto* c = static_cast<Conn*>(events[i].data.ptr);
      for (;;) {
        ssize_t r = ::read(c->fd, buf, sizeof buf);
        if (r <= 0) {
          if (r < 0 && errno == EAGAIN) break;
          ::close(c->fd);
          delete c;
          break;
        }
        int ends = 0;
        static const char want[] = "\r\n\r\n";
        for (ssize_t k = 0; k < r; ++k) {
          c->tail = buf[k] == want[c->tail] ? c->tail + 1 : (buf[k] == '\r' ? 1 : 0);
          if (c->tail == 4) {
            ++ends;
            c->tail = 0;
          }
        }
        out.clear();
        for (int k = 0; k < ends; ++k)
          out.append(response, sizeof response - 1);
        if (!out.empty() && ::write(c->fd, out.data(), out.size()) < 0) {
          ::close(c->fd);
          delete c;
          break;
        }
      }
    }
  }
}
