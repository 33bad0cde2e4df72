// lithe-loadgen: the load bench/run needs beyond wrk, on loopback, bounded in time.
//   ws-echo PORT PATH CONNS SECONDS   WebSocket echo: each connection sends a 32-byte text
//                                     message and sends the next when the echo is back;
//                                     prints msgs_per_sec.
//   fanout PORT sse|ws TOPIC CLIENTS ROUNDS
//                                     CLIENTS subscribe to TOPIC on lithe-broadcast
//                                     (/events/TOPIC or /ws/TOPIC); each round POSTs
//                                     /publish/TOPIC and times until the last client has it;
//                                     prints median_ms and deliveries_per_sec.
//   idle PORT CONNS PID               opens CONNS keep-alive connections, one request each,
//                                     then reads the server's RSS growth: bytes_per_conn.
//   stream PORT PATH MIB_PER_SEC PID  GETs PATH (a large body) and reads it no faster than
//                                     MIB_PER_SEC, sampling the server's RSS every 100 ms;
//                                     prints bytes, seconds, rss_base_kib, rss_growth_kib
//                                     (the largest RSS seen minus the one before the request).
#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

int connect_to(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::perror("loadgen: connect");
    std::exit(1);
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

void send_all(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n <= 0) {
      std::perror("loadgen: write");
      std::exit(1);
    }
    off += static_cast<std::size_t>(n);
  }
}

/// Reads (blocking, with a deadline) until `what` arrived; returns what was read.
std::string read_until(int fd, std::string_view what, Clock::time_point deadline) {
  std::string got;
  char buf[4096];
  while (got.find(what) == std::string::npos) {
    if (Clock::now() > deadline) {
      std::fprintf(stderr, "loadgen: timed out waiting for %.*s\n", int(what.size()), what.data());
      std::exit(1);
    }
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      std::fprintf(stderr, "loadgen: connection closed while waiting\n");
      std::exit(1);
    }
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

std::string upgrade(const std::string& path) {
  return "GET " + path +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
}

/// A masked text frame with a zero mask (the payload goes as it is).
std::string ws_text(const std::string& s) {
  std::string f = "\x81";
  f += static_cast<char>(0x80 | s.size()); // under 126 bytes
  f.append(4, '\0');
  return f + s;
}

int ws_echo(int port, const std::string& path, int conns, int seconds) {
  const std::string msg = ws_text(std::string(32, 'm'));
  const std::size_t reply = 2 + 32;
  int ep = ::epoll_create1(0);
  std::vector<int> fds;
  std::vector<std::size_t> pending(static_cast<std::size_t>(conns), 0);
  for (int i = 0; i < conns; ++i) {
    int fd = connect_to(port);
    send_all(fd, upgrade(path));
    read_until(fd, "\r\n\r\n", Clock::now() + std::chrono::seconds(5));
    epoll_event ev{EPOLLIN, {.u64 = static_cast<std::uint64_t>(i)}};
    ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    fds.push_back(fd);
    send_all(fd, msg);
  }
  long messages = 0;
  auto start = Clock::now(), end = start + std::chrono::seconds(seconds);
  char buf[65536];
  epoll_event events[256];
  while (Clock::now() < end) {
    int n = ::epoll_wait(ep, events, 256, 100);
    for (int i = 0; i < n; ++i) {
      auto k = static_cast<std::size_t>(events[i].data.u64);
      ssize_t r = ::recv(fds[k], buf, sizeof buf, 0);
      if (r <= 0) {
        std::fprintf(stderr, "loadgen: a WebSocket closed\n");
        return 1;
      }
      pending[k] += static_cast<std::size_t>(r);
      while (pending[k] >= reply) {
        pending[k] -= reply;
        ++messages;
        send_all(fds[k], msg);
      }
    }
  }
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("msgs_per_sec %.0f\n", static_cast<double>(messages) / secs);
  return 0;
}

int fanout(int port, const std::string& kind, const std::string& topic, int clients, int rounds) {
  std::vector<int> fds;
  for (int i = 0; i < clients; ++i) {
    int fd = connect_to(port);
    if (kind == "ws")
      send_all(fd, upgrade("/ws/" + topic));
    else
      send_all(fd, "GET /events/" + topic + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    fds.push_back(fd);
  }
  auto wait_all = [&](const std::string& token, int seconds) -> bool {
    int ep = ::epoll_create1(0);
    std::vector<std::string> seen(fds.size());
    std::size_t done = 0;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      epoll_event ev{EPOLLIN, {.u64 = i}};
      ::epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
    }
    auto deadline = Clock::now() + std::chrono::seconds(seconds);
    char buf[65536];
    epoll_event events[256];
    std::vector<bool> got(fds.size(), false);
    while (done < fds.size()) {
      if (Clock::now() > deadline) {
        ::close(ep);
        return false;
      }
      int n = ::epoll_wait(ep, events, 256, 100);
      for (int e = 0; e < n; ++e) {
        auto k = static_cast<std::size_t>(events[e].data.u64);
        ssize_t r = ::recv(fds[k], buf, sizeof buf, 0);
        if (r <= 0) {
          std::fprintf(stderr, "loadgen: a subscriber was closed\n");
          std::exit(1);
        }
        seen[k].append(buf, static_cast<std::size_t>(r));
        if (!got[k] && seen[k].find(token) != std::string::npos) {
          got[k] = true;
          ++done;
        }
        if (seen[k].size() > 4096) seen[k].erase(0, seen[k].size() - 64);
      }
    }
    ::close(ep);
    return true;
  };
  int pub = connect_to(port);
  auto publish = [&](const std::string& text) {
    send_all(pub, "POST /publish/" + topic + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " +
                      std::to_string(text.size()) + "\r\n\r\n" + text);
    read_until(pub, "listening\n", Clock::now() + std::chrono::seconds(10));
  };
  // Until every client has a warm-up message, not all are subscribed yet: keep publishing.
  for (int attempt = 0;; ++attempt) {
    std::string token = "warmup-" + std::to_string(attempt) + "-end";
    publish(token);
    if (wait_all(token, 2)) break;
    if (attempt == 15) {
      std::fprintf(stderr, "loadgen: not every client subscribed within 30 s\n");
      return 1;
    }
  }
  std::vector<double> ms;
  for (int r = 0; r < rounds; ++r) {
    std::string token = "round-" + std::to_string(r) + "-end";
    auto t0 = Clock::now();
    publish(token);
    if (!wait_all(token, 30)) {
      std::fprintf(stderr, "loadgen: a round did not reach every client within 30 s\n");
      return 1;
    }
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  double total = 0;
  for (double m : ms)
    total += m;
  std::printf("median_ms %.2f\ndeliveries_per_sec %.0f\n", sorted[sorted.size() / 2],
              static_cast<double>(clients) * rounds / (total / 1000));
  return 0;
}

long rss_kib(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
}

int idle(int port, int conns, int pid) {
  long before = rss_kib(pid);
  std::vector<int> fds;
  const std::string req = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  for (int i = 0; i < conns; ++i) {
    int fd = connect_to(port);
    send_all(fd, req);
    fds.push_back(fd);
  }
  for (int fd : fds)
    read_until(fd, "Hello, World!", Clock::now() + std::chrono::seconds(10));
  ::usleep(300 * 1000); // let the server settle its buffers after the last answer
  long after = rss_kib(pid);
  std::printf("bytes_per_conn %.0f\n", static_cast<double>(after - before) * 1024 / conns);
  for (int fd : fds)
    ::close(fd);
  return 0;
}

int stream(int port, const char* path, double mib_per_sec, int pid) {
  const long base = rss_kib(pid);
  long peak = base;
  int fd = connect_to(port);
  send_all(fd, std::string("GET ") + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  std::string head = read_until(fd, "\r\n\r\n", Clock::now() + std::chrono::seconds(10));
  std::size_t head_end = head.find("\r\n\r\n") + 4;
  std::size_t cl = head.find("Content-Length: ");
  if (head.rfind("HTTP/1.1 200", 0) != 0 || cl == std::string::npos) {
    std::fprintf(stderr, "loadgen: stream wants a 200 with Content-Length, got:\n%s\n",
                 head.c_str());
    return 1;
  }
  const std::uint64_t total = std::strtoull(head.c_str() + cl + 16, nullptr, 10);
  std::uint64_t got = head.size() - head_end;
  const double bytes_per_sec = mib_per_sec * 1024 * 1024;
  const auto start = Clock::now();
  auto next_sample = start;
  // A stall (nothing for 10 s) ends the run as a failure rather than a hang.
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::vector<char> buf(64 * 1024);
  while (got < total) {
    // Pace: no byte earlier than its place in a steady MIB_PER_SEC stream.
    auto due = start + std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double>(static_cast<double>(got) / bytes_per_sec));
    auto now = Clock::now();
    if (due > now)
      ::usleep(static_cast<useconds_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(due - now).count()));
    if (Clock::now() >= next_sample) {
      peak = std::max(peak, rss_kib(pid));
      next_sample += std::chrono::milliseconds(100);
    }
    ssize_t n = ::recv(fd, buf.data(), std::min<std::uint64_t>(buf.size(), total - got), 0);
    if (n <= 0) {
      std::fprintf(stderr, "loadgen: stream ended after %llu of %llu bytes\n",
                   static_cast<unsigned long long>(got), static_cast<unsigned long long>(total));
      return 1;
    }
    got += static_cast<std::uint64_t>(n);
  }
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  peak = std::max(peak, rss_kib(pid));
  ::close(fd);
  std::printf("bytes %llu\nseconds %.1f\nrss_base_kib %ld\nrss_growth_kib %ld\n",
              static_cast<unsigned long long>(total), secs, base, peak - base);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "ws-echo" && argc == 6)
    return ws_echo(std::atoi(argv[2]), argv[3], std::atoi(argv[4]), std::atoi(argv[5]));
  if (mode == "fanout" && argc == 7)
    return fanout(std::atoi(argv[2]), argv[3], argv[4], std::atoi(argv[5]), std::atoi(argv[6]));
  if (mode == "idle" && argc == 5)
    return idle(std::atoi(argv[2]), std::atoi(argv[3]), std::atoi(argv[4]));
  if (mode == "stream" && argc == 6)
    return stream(std::atoi(argv[2]), argv[3], std::atof(argv[4]), std::atoi(argv[5]));
  std::fprintf(stderr, "usage: lithe-loadgen ws-echo PORT PATH CONNS SECONDS\n"
                       "       lithe-loadgen fanout PORT sse|ws TOPIC CLIENTS ROUNDS\n"
                       "       lithe-loadgen idle PORT CONNS SERVER_PID\n"
                       "       lithe-loadgen stream PORT PATH MIB_PER_SEC SERVER_PID\n");
  return 2;
}
