// lithe-loadgen: the load bench/run needs beyond wrk, on loopback, bounded in time.
//   ws-echo PORT PATH CONNS SECONDS [SERVER_PID] [--inflight K]
//                                     WebSocket echo: each connection keeps K 32-byte text
//                                     messages in flight (1 by default) and answers the echoes
//                                     one read brings with one write; prints msgs_per_sec,
//                                     client_cpu_pct (below 100: the server is the limit) and,
//                                     with SERVER_PID, server_cpu_ns_per_msg. --uring: the
//                                     same through one io_uring (one system call per turn).
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
//   tls-handshake PORT CONNS SECONDS [PID] [--resume]
//                                     CONNS connections at a time, each a TLS 1.3 handshake,
//                                     one GET / (Connection: close), the answer to the
//                                     server's close, repeat; after one second of warm-up,
//                                     SECONDS of counting. --resume offers each slot's last
//                                     session ticket. Prints conns_per_sec, resumed_pct,
//                                     p99_ms (connect to close), client_cpu_pct and, with PID,
//                                     server_cpu_us_per_conn.
//   hold PORT TOPIC CLIENTS ROUNDS SECONDS [--source IP]
//                                     CLIENTS WebSockets on lithe-broadcast's /ws/TOPIC, bound
//                                     to IP; prints "ready N" once all are open, then one line
//                                     "round latency_us" per delivery of what `publish` sent
//                                     (bench/scale/ws-100k).
//   publish PORT TOPIC ROUNDS INTERVAL_MS
//                                     POSTs ROUNDS messages stamped with CLOCK_MONOTONIC.
//   --tls (after ws-echo or idle)    the same over TLS (no certificate check: load, not trust).
#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <string>
#include <string_view>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
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

/// A client connection: the socket and, in the modes that run over TLS, its session.
struct Conn {
  int fd = -1;
  SSL* ssl = nullptr;
};

/// The client side of every TLS mode: TLS 1.3 with the one suite bench/run sets on the
/// servers, no certificate check (the load, not the trust, is measured), small idle buffers.
SSL_CTX* client_tls() {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256");
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  return ctx;
}

/// Connects (blocking, every read bounded by 10 s) and, with `tls`, completes the handshake.
Conn open_conn(int port, SSL_CTX* tls) {
  Conn c{connect_to(port), nullptr};
  timeval tv{10, 0};
  ::setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (tls) {
    c.ssl = SSL_new(tls);
    SSL_set_fd(c.ssl, c.fd);
    SSL_set_tlsext_host_name(c.ssl, "localhost");
    if (SSL_connect(c.ssl) != 1) {
      std::fprintf(stderr, "loadgen: TLS handshake failed\n");
      ERR_print_errors_fp(stderr);
      std::exit(1);
    }
  }
  return c;
}

/// Waits (at most 10 s) until fd is ready for `events`, for sends on non-blocking sockets.
void wait_ready(int fd, short events) {
  pollfd p{fd, events, 0};
  if (::poll(&p, 1, 10000) != 1) {
    std::fprintf(stderr, "loadgen: socket not ready within 10 s\n");
    std::exit(1);
  }
}

void send_all(const Conn& c, std::string_view s) {
  std::size_t off = 0;
  while (off < s.size()) {
    if (c.ssl) {
      int n = SSL_write(c.ssl, s.data() + off, static_cast<int>(s.size() - off));
      if (n > 0) {
        off += static_cast<std::size_t>(n);
        continue;
      }
      int e = SSL_get_error(c.ssl, n);
      if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
        wait_ready(c.fd, e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN);
        continue;
      }
      std::fprintf(stderr, "loadgen: SSL_write failed\n");
      std::exit(1);
    }
    ssize_t n = ::write(c.fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EAGAIN) {
      wait_ready(c.fd, POLLOUT);
      continue;
    }
    if (n <= 0) {
      std::perror("loadgen: write");
      std::exit(1);
    }
    off += static_cast<std::size_t>(n);
  }
}
void send_all(int fd, std::string_view s) {
  send_all(Conn{fd, nullptr}, s);
}

/// One read: bytes read, 0 at the peer's end, -1 on an error, -2 when nothing is there yet.
ssize_t recv_some(const Conn& c, char* buf, std::size_t size) {
  if (c.ssl) {
    int n = SSL_read(c.ssl, buf, static_cast<int>(size));
    if (n > 0) return n;
    int e = SSL_get_error(c.ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return -2;
    return e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
  }
  ssize_t n = ::recv(c.fd, buf, size, 0);
  return n < 0 && errno == EAGAIN ? -2 : n;
}

/// Reads (blocking, with a deadline) until `what` arrived; returns what was read.
std::string read_until(const Conn& c, std::string_view what, Clock::time_point deadline) {
  std::string got;
  char buf[4096];
  while (got.find(what) == std::string::npos) {
    if (Clock::now() > deadline) {
      std::fprintf(stderr, "loadgen: timed out waiting for %.*s\n", int(what.size()), what.data());
      std::exit(1);
    }
    ssize_t n = recv_some(c, buf, sizeof buf);
    if (n == -2) continue; // SO_RCVTIMEO or a TLS record not complete yet
    if (n <= 0) {
      std::fprintf(stderr, "loadgen: connection closed while waiting\n");
      std::exit(1);
    }
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}
std::string read_until(int fd, std::string_view what, Clock::time_point deadline) {
  return read_until(Conn{fd, nullptr}, what, deadline);
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

/// utime + stime of a process, in clock ticks (/proc/PID/stat fields 14 and 15).
long cpu_ticks(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::size_t p = stat.rfind(')'); // the command name may hold spaces
  if (p == std::string::npos) return -1;
  const char* q = stat.c_str() + p + 2;
  long utime = 0, stime = 0;
  // After ")": state, then fields 4..13, then utime (14) and stime (15).
  if (std::sscanf(q, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &utime, &stime) != 2)
    return -1;
  return utime + stime;
}

double self_cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/// ws-echo's results: messages per second, this process's CPU over the run, and with `pid` the
/// server's CPU per message.
void report_echo(long messages, Clock::time_point start, double self_start, int pid,
                 long server_start) {
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  double self = self_cpu_seconds() - self_start;
  std::printf("msgs_per_sec %.0f\n", static_cast<double>(messages) / secs);
  std::printf("client_cpu_pct %.0f\n", 100.0 * self / secs);
  if (pid > 0 && messages > 0) {
    double server = static_cast<double>(cpu_ticks(pid) - server_start) /
                    static_cast<double>(::sysconf(_SC_CLK_TCK));
    std::printf("server_cpu_ns_per_msg %.0f\n", 1e9 * server / static_cast<double>(messages));
  }
}

int ws_echo(int port, const std::string& path, int conns, int seconds, int inflight, int pid,
            SSL_CTX* tls) {
  // Each connection keeps `inflight` messages outstanding. The echoes that one read brings are
  // answered with one write of as many frames, so the client spends one read and one write per
  // batch, not per message, and the server, not this loop, is what the number measures.
  const std::string one = ws_text(std::string(32, 'm'));
  std::string batch;
  for (int i = 0; i < inflight; ++i)
    batch += one;
  const std::size_t reply = 2 + 32;
  int ep = ::epoll_create1(0);
  std::vector<Conn> cs;
  std::vector<std::size_t> pending(static_cast<std::size_t>(conns), 0);
  for (int i = 0; i < conns; ++i) {
    Conn c = open_conn(port, tls);
    send_all(c, upgrade(path));
    read_until(c, "\r\n\r\n", Clock::now() + std::chrono::seconds(5));
    ::fcntl(c.fd, F_SETFL, ::fcntl(c.fd, F_GETFL) | O_NONBLOCK);
    epoll_event ev{EPOLLIN, {.u64 = static_cast<std::uint64_t>(i)}};
    ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    cs.push_back(c);
    send_all(c, batch);
  }
  long messages = 0;
  long server_start = pid > 0 ? cpu_ticks(pid) : 0;
  double self_start = self_cpu_seconds();
  auto start = Clock::now(), end = start + std::chrono::seconds(seconds);
  char buf[65536];
  epoll_event events[256];
  while (Clock::now() < end) {
    int n = ::epoll_wait(ep, events, 256, 100);
    for (int i = 0; i < n; ++i) {
      auto k = static_cast<std::size_t>(events[i].data.u64);
      std::size_t echoed = 0;
      // Until nothing is left: TLS may hold whole records that epoll no longer reports.
      for (;;) {
        ssize_t r = recv_some(cs[k], buf, sizeof buf);
        if (r == -2) break;
        if (r <= 0) {
          std::fprintf(stderr, "loadgen: a WebSocket closed\n");
          return 1;
        }
        pending[k] += static_cast<std::size_t>(r);
        echoed += pending[k] / reply;
        pending[k] %= reply;
        if (static_cast<std::size_t>(r) < sizeof buf && !cs[k].ssl) break; // drained
      }
      if (echoed == 0) continue;
      messages += static_cast<long>(echoed);
      send_all(cs[k], std::string_view(batch).substr(0, echoed * one.size()));
    }
  }
  report_echo(messages, start, self_start, pid, server_start);
  return 0;
}

/// ws-echo --uring: the same exchange through one io_uring. Every connection has a multishot
/// receive into a shared ring of provided buffers, and the echo batches go out as send SQEs
/// from one constant buffer, so a loop turn is one io_uring_enter for all the connections. A
/// short send would split a frame; it does not happen with these sizes, and it is reported.
int ws_echo_uring(int port, const std::string& path, int conns, int seconds, int inflight,
                  int pid) {
  const std::string one = ws_text(std::string(32, 'm'));
  std::string batch;
  for (int i = 0; i < inflight; ++i)
    batch += one;
  const std::size_t reply = 2 + 32;
  io_uring ring;
  io_uring_params params{};
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  if (io_uring_queue_init_params(4096, &ring, &params) < 0) {
    params.flags = 0;
    if (int rc = io_uring_queue_init_params(4096, &ring, &params); rc < 0) {
      std::fprintf(stderr, "loadgen: io_uring: %s\n", std::strerror(-rc));
      return 1;
    }
  }
  constexpr unsigned buffers = 1024, buffer_size = 4096;
  std::vector<char> memory(std::size_t{buffers} * buffer_size);
  void* ring_memory = ::mmap(nullptr, buffers * sizeof(io_uring_buf), PROT_READ | PROT_WRITE,
                             MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  auto* br = static_cast<io_uring_buf_ring*>(ring_memory);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(br);
  reg.ring_entries = buffers;
  reg.bgid = 0;
  if (int rc = io_uring_register_buf_ring(&ring, &reg, 0); rc < 0) {
    std::fprintf(stderr, "loadgen: provided buffers: %s\n", std::strerror(-rc));
    return 1;
  }
  io_uring_buf_ring_init(br);
  const int mask = io_uring_buf_ring_mask(buffers);
  auto give_back = [&](unsigned bid, int offset) {
    io_uring_buf_ring_add(br, memory.data() + std::size_t{bid} * buffer_size, buffer_size,
                          static_cast<unsigned short>(bid), mask, offset);
  };
  for (unsigned b = 0; b < buffers; ++b)
    give_back(b, static_cast<int>(b));
  io_uring_buf_ring_advance(br, buffers);

  auto sqe = [&] {
    io_uring_sqe* e = io_uring_get_sqe(&ring);
    if (!e) {
      io_uring_submit(&ring);
      e = io_uring_get_sqe(&ring);
    }
    return e;
  };
  std::vector<int> fds;
  std::vector<std::size_t> pending(static_cast<std::size_t>(conns), 0);
  auto arm = [&](std::size_t k) {
    io_uring_sqe* e = sqe();
    io_uring_prep_recv_multishot(e, fds[k], nullptr, 0, 0);
    e->flags |= IOSQE_BUFFER_SELECT;
    e->buf_group = 0;
    io_uring_sqe_set_data64(e, k << 1);
  };
  auto send = [&](std::size_t k, std::size_t bytes) {
    io_uring_sqe* e = sqe();
    io_uring_prep_send(e, fds[k], batch.data(), bytes, 0);
    io_uring_sqe_set_data64(e, (bytes << 32) | (k << 1) | 1);
  };
  for (int i = 0; i < conns; ++i) {
    Conn c = open_conn(port, nullptr);
    send_all(c, upgrade(path));
    read_until(c, "\r\n\r\n", Clock::now() + std::chrono::seconds(5));
    fds.push_back(c.fd);
    arm(fds.size() - 1);
    send(fds.size() - 1, batch.size());
  }
  long messages = 0;
  long server_start = pid > 0 ? cpu_ticks(pid) : 0;
  double self_start = self_cpu_seconds();
  auto start = Clock::now(), end = start + std::chrono::seconds(seconds);
  __kernel_timespec wait{0, 100'000'000};
  while (Clock::now() < end) {
    io_uring_cqe* cqe = nullptr;
    int rc = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &wait, nullptr);
    if (rc < 0 && rc != -ETIME && rc != -EINTR) {
      std::fprintf(stderr, "loadgen: io_uring_enter: %s\n", std::strerror(-rc));
      return 1;
    }
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++seen;
      std::uint64_t data = io_uring_cqe_get_data64(cqe);
      std::size_t k = (data & 0xffffffffu) >> 1;
      if (data & 1) { // a send
        if (cqe->res != static_cast<int>(data >> 32)) {
          std::fprintf(stderr, "loadgen: a send wrote %d of %u bytes\n", cqe->res,
                       static_cast<unsigned>(data >> 32));
          return 1;
        }
        continue;
      }
      if (cqe->res == -ENOBUFS) { // every buffer in use: they come back below; ask again
        arm(k);
        continue;
      }
      if (cqe->res <= 0) {
        std::fprintf(stderr, "loadgen: a WebSocket closed (%d)\n", cqe->res);
        return 1;
      }
      unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
      give_back(bid, 0);
      io_uring_buf_ring_advance(br, 1);
      pending[k] += static_cast<std::size_t>(cqe->res);
      std::size_t echoed = pending[k] / reply;
      pending[k] %= reply;
      if (!(cqe->flags & IORING_CQE_F_MORE)) arm(k);
      if (echoed == 0) continue;
      messages += static_cast<long>(echoed);
      send(k, echoed * one.size());
    }
    io_uring_cq_advance(&ring, seen);
  }
  report_echo(messages, start, self_start, pid, server_start);
  io_uring_queue_exit(&ring);
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

int idle(int port, int conns, int pid, SSL_CTX* tls) {
  long before = rss_kib(pid);
  std::vector<Conn> cs;
  const std::string req = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  for (int i = 0; i < conns; ++i) {
    // Over TLS one at a time: each blocking handshake is done before the next.
    Conn c = open_conn(port, tls);
    send_all(c, req);
    cs.push_back(c);
  }
  for (const Conn& c : cs)
    read_until(c, "Hello, World!", Clock::now() + std::chrono::seconds(10));
  ::usleep(300 * 1000); // let the server settle its buffers after the last answer
  long after = rss_kib(pid);
  std::printf("bytes_per_conn %.0f\n", static_cast<double>(after - before) * 1024 / conns);
  for (const Conn& c : cs) {
    SSL_free(c.ssl);
    ::close(c.fd);
  }
  return 0;
}

/// One connection slot of tls-handshake: a connection from connect to the server's close.
struct Slot {
  enum State { connecting, handshaking, requesting, reading };
  int fd = -1;
  SSL* ssl = nullptr;
  SSL_SESSION* session = nullptr; // the last ticket the server gave this slot (--resume)
  State state = connecting;
  bool ok = false; // the answer began with a 200 status line
  Clock::time_point started;
};

int keep_session(SSL* ssl, SSL_SESSION* session) {
  auto* slot = static_cast<Slot*>(SSL_get_app_data(ssl));
  if (slot->session) SSL_SESSION_free(slot->session);
  slot->session = session;
  return 1; // the slot owns it now
}

int tls_handshake(int port, int conns, int seconds, int pid, bool resume) {
  SSL_CTX* ctx = client_tls();
  if (resume) {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, keep_session);
  }
  const std::string req = "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int ep = ::epoll_create1(0);
  std::vector<Slot> slots(static_cast<std::size_t>(conns));
  bool counting = false;
  long done = 0, resumed = 0, errors = 0, total = 0; // total: warm-up included
  std::vector<double> ms;

  auto start = [&](std::size_t k) {
    Slot& s = slots[k];
    s.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    ::setsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 &&
        errno != EINPROGRESS) {
      std::perror("loadgen: connect");
      std::exit(1);
    }
    s.state = Slot::connecting;
    s.ok = false;
    s.started = Clock::now();
    // Edge-triggered both ways: drive() runs each step until OpenSSL wants the socket again.
    epoll_event ev{EPOLLIN | EPOLLOUT | EPOLLET, {.u64 = k}};
    ::epoll_ctl(ep, EPOLL_CTL_ADD, s.fd, &ev);
  };
  auto finish = [&](std::size_t k, bool good) {
    Slot& s = slots[k];
    total += good;
    if (!good) {
      ++errors;
    } else if (counting) {
      ++done;
      if (SSL_session_reused(s.ssl)) ++resumed;
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - s.started).count());
    }
    // The server closed: mark the end as clean, or SSL_free would make the ticket unusable.
    SSL_set_shutdown(s.ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(s.ssl);
    s.ssl = nullptr;
    ::close(s.fd);
    start(k);
  };
  // Returns true when OpenSSL wants the socket again, false after a failure.
  auto wants_more = [&](Slot& s, int r) {
    int e = SSL_get_error(s.ssl, r);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
  };
  auto drive = [&](std::size_t k) {
    Slot& s = slots[k];
    for (;;) {
      switch (s.state) {
      case Slot::connecting: {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) return finish(k, false);
        s.ssl = SSL_new(ctx);
        SSL_set_fd(s.ssl, s.fd);
        SSL_set_app_data(s.ssl, &s);
        SSL_set_tlsext_host_name(s.ssl, "localhost");
        if (resume && s.session) {
          // A copy each time: a TLS 1.3 handshake writes its own resumption secret into the
          // session it resumed, so sharing one would spoil the ticket for the next connection
          // whenever the server sends no new ticket (lithe, until its ticket key rotates).
          SSL_SESSION* copy = SSL_SESSION_dup(s.session);
          SSL_set_session(s.ssl, copy);
          SSL_SESSION_free(copy);
        }
        s.state = Slot::handshaking;
        break;
      }
      case Slot::handshaking: {
        int r = SSL_connect(s.ssl);
        if (r != 1) return wants_more(s, r) ? void() : finish(k, false);
        s.state = Slot::requesting;
        break;
      }
      case Slot::requesting: {
        int r = SSL_write(s.ssl, req.data(), static_cast<int>(req.size()));
        if (r <= 0) return wants_more(s, r) ? void() : finish(k, false);
        s.state = Slot::reading;
        break;
      }
      case Slot::reading: {
        char buf[4096];
        int r = SSL_read(s.ssl, buf, sizeof buf);
        if (r > 0) {
          if (!s.ok)
            s.ok = std::string_view(buf, static_cast<std::size_t>(r)).starts_with("HTTP/1.1 200");
          break;
        }
        if (wants_more(s, r)) return;
        // The server's close (close_notify or EOF) ends a good exchange.
        return finish(k, s.ok && SSL_get_error(s.ssl, r) == SSL_ERROR_ZERO_RETURN);
      }
      }
    }
  };

  for (std::size_t k = 0; k < slots.size(); ++k)
    start(k);
  const auto t0 = Clock::now(), warm = t0 + std::chrono::seconds(1),
             end = warm + std::chrono::seconds(seconds);
  Clock::time_point counted_from;
  long ticks0 = 0;
  double cpu0 = 0;
  epoll_event events[256];
  for (auto now = t0; now < end; now = Clock::now()) {
    if (!counting && now >= warm) {
      counting = true;
      counted_from = now;
      ticks0 = pid > 0 ? cpu_ticks(pid) : 0;
      cpu0 = self_cpu_seconds();
    }
    int n = ::epoll_wait(ep, events, 256, 50);
    for (int i = 0; i < n; ++i)
      drive(static_cast<std::size_t>(events[i].data.u64));
  }
  const double secs = std::chrono::duration<double>(Clock::now() - counted_from).count();
  const long ticks = pid > 0 ? cpu_ticks(pid) - ticks0 : 0;
  const double cpu = self_cpu_seconds() - cpu0;
  std::sort(ms.begin(), ms.end());
  std::printf("conns_per_sec %.0f\nresumed_pct %.1f\np99_ms %.2f\nclient_cpu_pct %.0f\n",
              static_cast<double>(done) / secs,
              done ? 100.0 * static_cast<double>(resumed) / static_cast<double>(done) : 0.0,
              ms.empty() ? 0.0 : ms[ms.size() * 99 / 100], 100 * cpu / secs);
  if (pid > 0 && done > 0)
    std::printf("server_cpu_us_per_conn %.1f\n", static_cast<double>(ticks) /
                                                     static_cast<double>(::sysconf(_SC_CLK_TCK)) *
                                                     1e6 / static_cast<double>(done));
  std::printf("errors %ld\nconns_total %ld\n", errors, total);
  return done > 0 ? 0 : 1;
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

std::int64_t monotonic_ns() {
  timespec t{};
  ::clock_gettime(CLOCK_MONOTONIC, &t); // one clock for every process on the machine
  return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
}

/// hold: CLIENTS WebSockets on /ws/TOPIC from SOURCE, each until it got ROUNDS messages of the
/// form "t=<CLOCK_MONOTONIC ns>;r=<round>" (what `publish` sends) or SECONDS passed. Prints
/// "ready N" once every connection is open, then "round latency_us" for each delivery, then
/// "delivered D of E".
int hold(int port, const std::string& topic, int clients, int rounds, int seconds,
         const char* source) {
  std::vector<int> fds;
  std::vector<std::string> seen;
  in_addr from{};
  if (::inet_pton(AF_INET, source, &from) != 1) {
    std::fprintf(stderr, "loadgen: --source %s is not an IPv4 address\n", source);
    return 2;
  }
  const std::string request = upgrade("/ws/" + topic);
  for (int i = 0; i < clients; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    // The port is chosen at connect, per destination, so one source address is not limited
    // to one ephemeral range across every server.
    ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr = from;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      std::perror("loadgen: bind");
      return 1;
    }
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      std::fprintf(stderr, "loadgen: connect %d of %d: %s\n", i + 1, clients, std::strerror(errno));
      return 1;
    }
    send_all(fd, request);
    fds.push_back(fd);
  }
  // Upgrades were sent without waiting; their answers come back now.
  seen.resize(fds.size());
  std::vector<int> got(fds.size(), 0);
  std::vector<bool> open(fds.size(), false);
  int ep = ::epoll_create1(0);
  for (std::size_t k = 0; k < fds.size(); ++k) {
    ::fcntl(fds[k], F_SETFL, ::fcntl(fds[k], F_GETFL) | O_NONBLOCK);
    epoll_event ev{EPOLLIN, {.u64 = k}};
    ::epoll_ctl(ep, EPOLL_CTL_ADD, fds[k], &ev);
  }
  std::size_t opened = 0;
  long delivered = 0;
  const long expected = static_cast<long>(clients) * rounds;
  auto deadline = Clock::now() + std::chrono::seconds(seconds);
  char buf[65536];
  epoll_event events[512];
  std::string out;
  while (delivered < expected && Clock::now() < deadline) {
    int n = ::epoll_wait(ep, events, 512, 100);
    std::int64_t now = monotonic_ns();
    for (int e = 0; e < n; ++e) {
      auto k = static_cast<std::size_t>(events[e].data.u64);
      ssize_t r = ::recv(fds[k], buf, sizeof buf, 0);
      if (r <= 0) {
        std::fprintf(stderr, "loadgen: a subscriber was closed\n");
        return 1;
      }
      std::string& b = seen[k];
      b.append(buf, static_cast<std::size_t>(r));
      if (!open[k]) {
        auto end = b.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        if (b.compare(0, 12, "HTTP/1.1 101") != 0) {
          std::fprintf(stderr, "loadgen: upgrade refused: %.40s\n", b.c_str());
          return 1;
        }
        b.erase(0, end + 4);
        open[k] = true;
        if (++opened == fds.size()) {
          std::printf("ready %zu\n", opened);
          std::fflush(stdout);
        }
      }
      // Server frames: unmasked, short text ("t=...;r=...").
      while (b.size() >= 2) {
        std::size_t len = static_cast<unsigned char>(b[1]) & 0x7f, head = 2;
        if (len == 126) {
          if (b.size() < 4) break;
          len = (std::size_t(static_cast<unsigned char>(b[2])) << 8) |
                static_cast<unsigned char>(b[3]);
          head = 4;
        } else if (len == 127) {
          std::fprintf(stderr, "loadgen: an unexpected large frame\n");
          return 1;
        }
        if (b.size() < head + len) break;
        std::string_view text(b.data() + head, len);
        long long t = 0;
        int round = -1;
        if ((b[0] & 0x0f) == 1 &&
            std::sscanf(std::string(text).c_str(), "t=%lld;r=%d", &t, &round) == 2) {
          out += std::to_string(round) + " " + std::to_string((now - t) / 1000) + "\n";
          ++delivered;
          ++got[k];
        }
        b.erase(0, head + len);
      }
    }
    if (out.size() > (1 << 16)) {
      std::fwrite(out.data(), 1, out.size(), stdout);
      out.clear();
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::printf("delivered %ld of %ld\n", delivered, expected);
  return delivered == expected ? 0 : 1;
}

/// publish: ROUNDS messages "t=<CLOCK_MONOTONIC ns>;r=<round>" POSTed to /publish/TOPIC,
/// INTERVAL_MS apart (a benchmark's pacing, not synchronisation).
int publish(int port, const std::string& topic, int rounds, int interval_ms) {
  int fd = connect_to(port);
  for (int r = 0; r < rounds; ++r) {
    std::string text = "t=" + std::to_string(monotonic_ns()) + ";r=" + std::to_string(r);
    send_all(fd, "POST /publish/" + topic + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " +
                     std::to_string(text.size()) + "\r\n\r\n" + text);
    read_until(fd, "listening\n", Clock::now() + std::chrono::seconds(10));
    ::usleep(static_cast<useconds_t>(interval_ms) * 1000);
  }
  return 0;
}

int main(int argc, char** argv) {
  // --tls and --resume may come anywhere; the rest are the mode's words in order.
  bool tls = false, resume = false, uring = false;
  int inflight = 1;
  const char* source = "127.0.0.1";
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--tls")
      tls = true;
    else if (a == "--source" && i + 1 < argc)
      source = argv[++i];
    else if (a == "--uring")
      uring = true;
    else if (a == "--inflight" && i + 1 < argc)
      inflight = std::max(1, std::atoi(argv[++i]));
    else if (a == "--resume")
      resume = true;
    else
      args.push_back(argv[i]);
  }
  argc = static_cast<int>(args.size());
  argv = args.data();
  ::signal(SIGPIPE, SIG_IGN); // a server's close shows as an error from write, not a signal
  SSL_CTX* ctx = tls ? client_tls() : nullptr;
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "ws-echo" && (argc == 6 || argc == 7) && uring && !tls)
    return ws_echo_uring(std::atoi(argv[2]), argv[3], std::atoi(argv[4]), std::atoi(argv[5]),
                         inflight, argc == 7 ? std::atoi(argv[6]) : 0);
  if (mode == "ws-echo" && (argc == 6 || argc == 7))
    return ws_echo(std::atoi(argv[2]), argv[3], std::atoi(argv[4]), std::atoi(argv[5]), inflight,
                   argc == 7 ? std::atoi(argv[6]) : 0, ctx);
  if (mode == "fanout" && argc == 7 && !tls)
    return fanout(std::atoi(argv[2]), argv[3], argv[4], std::atoi(argv[5]), std::atoi(argv[6]));
  if (mode == "idle" && argc == 5)
    return idle(std::atoi(argv[2]), std::atoi(argv[3]), std::atoi(argv[4]), ctx);
  if (mode == "stream" && argc == 6 && !tls)
    return stream(std::atoi(argv[2]), argv[3], std::atof(argv[4]), std::atoi(argv[5]));
  if (mode == "hold" && argc == 7 && !tls)
    return hold(std::atoi(argv[2]), argv[3], std::atoi(argv[4]), std::atoi(argv[5]),
                std::atoi(argv[6]), source);
  if (mode == "publish" && argc == 6 && !tls)
    return publish(std::atoi(argv[2]), argv[3], std::atoi(argv[4]), std::atoi(argv[5]));
  if (mode == "tls-handshake" && (argc == 5 || argc == 6))
    return tls_handshake(std::atoi(argv[2]), std::atoi(argv[3]), std::atoi(argv[4]),
                         argc == 6 ? std::atoi(argv[5]) : 0, resume);
  std::fprintf(stderr,
               "usage: lithe-loadgen ws-echo PORT PATH CONNS SECONDS [SERVER_PID] [--inflight K] "
               "[--tls]\n"
               "       lithe-loadgen fanout PORT sse|ws TOPIC CLIENTS ROUNDS\n"
               "       lithe-loadgen idle PORT CONNS SERVER_PID [--tls]\n"
               "       lithe-loadgen stream PORT PATH MIB_PER_SEC SERVER_PID\n"
               "       lithe-loadgen tls-handshake PORT CONNS SECONDS [SERVER_PID] "
               "[--resume]\n");
  return 2;
}
