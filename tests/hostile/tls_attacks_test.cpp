// Hostile clients against the TLS layer (core/src/tls), over real sockets, on every backend:
// the app runs with a certificate from scripts/dev-cert, and each attack checks what the
// plaintext attacks check (memory within the connections' budget, no spinning while the attack
// holds still, a normal HTTPS client answered meanwhile) plus the TLS layer's own answer.
#include "hostile.hpp"
#include "support/backends.hpp"

#include <catch2/catch.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <iostream>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <random>
#include <sys/socket.h>
#include <unistd.h>

using namespace lithe;
using namespace lithe::hostile;

namespace {

/// scripts/dev-cert's certificate chain and key, made once per test run.
const std::string& cert_dir() {
  static TempDir dir; // removed, with the files in it, when the run ends
  static const bool made = [] {
    auto r =
        test::run_process({std::string(LITHE_SOURCE_DIR) + "/scripts/dev-cert", dir.path()}, 30s);
    if (r.exit_code != 0) throw std::runtime_error("scripts/dev-cert failed: " + r.err);
    return true;
  }();
  (void)made;
  return dir.path();
}

std::vector<std::string> tls_flags(std::vector<std::string> more = {}) {
  std::vector<std::string> f = {"--tls-cert", cert_dir() + "/cert.pem", "--tls-key",
                                cert_dir() + "/key.pem"};
  f.insert(f.end(), more.begin(), more.end());
  return f;
}

SSL_CTX* client_ctx(bool tls12_only = false) {
  static SSL_CTX* any = nullptr;
  static SSL_CTX* v12 = nullptr;
  SSL_CTX*& c = tls12_only ? v12 : any;
  if (!c) {
    c = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF); // every handshake a full one
    SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
    if (tls12_only) SSL_CTX_set_max_proto_version(c, TLS1_2_VERSION);
  }
  return c;
}

int tcp_connect(std::uint16_t port, std::chrono::milliseconds timeout = 3s) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// A blocking TLS client (every read and write bounded by the socket's timeouts).
class TlsClient {
public:
  explicit TlsClient(std::uint16_t port, bool tls12_only = false, int rcvbuf = 0) {
    fd_ = tcp_connect(port);
    if (fd_ < 0) return;
    if (rcvbuf) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    ssl_ = SSL_new(client_ctx(tls12_only));
    SSL_set_fd(ssl_, fd_);
    SSL_set_tlsext_host_name(ssl_, "localhost");
    ok_ = SSL_connect(ssl_) == 1;
    ERR_clear_error();
  }
  ~TlsClient() {
    if (ssl_) SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
  }
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  bool ok() const noexcept { return ok_; }
  int fd() const noexcept { return fd_; }
  SSL* ssl() const noexcept { return ssl_; }

  bool send(std::string_view s) {
    return ok_ &&
           SSL_write(ssl_, s.data(), static_cast<int>(s.size())) == static_cast<int>(s.size());
  }
  /// One whole response with a Content-Length body; its status, or 0.
  int read_response() {
    std::string got;
    char buf[16384];
    while (ok_) {
      if (auto head_end = got.find("\r\n\r\n"); head_end != std::string::npos) {
        std::string head = got.substr(0, head_end);
        for (char& ch : head)
          ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        auto cl = head.find("content-length: ");
        std::size_t want =
            head_end + 4 + (cl != std::string::npos ? std::atol(head.c_str() + cl + 16) : 0);
        if (got.size() >= want)
          return got.rfind("HTTP/1.1 ", 0) == 0 ? std::atoi(got.c_str() + 9) : 0;
      }
      int n = SSL_read(ssl_, buf, sizeof buf);
      if (n <= 0) break;
      got.append(buf, static_cast<std::size_t>(n));
    }
    ERR_clear_error();
    return 0;
  }
  /// GET `path` on this connection: the status, or 0.
  int get(std::string_view path = "/") {
    if (!send("GET " + std::string(path) + " HTTP/1.1\r\nHost: localhost\r\n\r\n")) return 0;
    return read_response();
  }

private:
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  bool ok_ = false;
};

/// A normal HTTPS client: a fresh connection and handshake, GET `path`, the time to a 2xx.
std::optional<std::chrono::microseconds> tls_probe(std::uint16_t port,
                                                   std::string_view path = "/") {
  auto start = std::chrono::steady_clock::now();
  TlsClient c(port);
  int status = c.ok() ? c.get(path) : 0;
  if (status < 200 || status >= 300) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                               start);
}

void tls_probe_during(Attack& a, const Target& t, int n = 5, std::string_view path = "/") {
  for (int i = 0; i < n; ++i) {
    auto p = tls_probe(t.port(), path);
    INFO(a.name << ": a normal HTTPS client was not answered");
    REQUIRE(p);
    a.probes.push_back(*p);
  }
}

void warm_up(Target& t, std::string_view path = "/") {
  for (int i = 0; i < 20; ++i)
    REQUIRE(tls_probe(t.port(), path));
}

/// A real ClientHello, as an OpenSSL client would send it first.
std::string client_hello() {
  SSL* ssl = SSL_new(client_ctx());
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);
  SSL_set_tlsext_host_name(ssl, "localhost");
  SSL_set_connect_state(ssl);
  SSL_do_handshake(ssl);
  std::string hello;
  char buf[4096];
  int n;
  while ((n = BIO_read(out, buf, sizeof buf)) > 0)
    hello.append(buf, static_cast<std::size_t>(n));
  SSL_free(ssl);
  ERR_clear_error();
  return hello;
}

/// Waits until the peer closes `fd` (reading what it sends meanwhile), or the deadline.
bool closed_by_server(int fd, std::chrono::milliseconds within) {
  auto until = std::chrono::steady_clock::now() + within;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return true;
  }
}

/// How many files the target holds open (its sockets among them).
int open_files(const Target& t) {
  int n = 0;
  if (DIR* d = ::opendir(("/proc/" + std::to_string(t.pid()) + "/fd").c_str())) {
    while (::readdir(d))
      ++n;
    ::closedir(d);
  }
  return n;
}

/// Waits until the target holds at most `files` open files; whether it did within `within`.
bool files_drop_to(const Target& t, int files, std::chrono::milliseconds within) {
  for (auto until = std::chrono::steady_clock::now() + within;
       std::chrono::steady_clock::now() < until;) {
    if (open_files(t) <= files) return true;
    std::this_thread::sleep_for(50ms); // polling the server's fd table, bounded
  }
  return open_files(t) <= files;
}

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s)
    c = static_cast<char>(rng());
  return s;
}

void report_line(const std::string& line) {
  std::cout << line << std::flush;
  if (const char* path = std::getenv("LITHE_HOSTILE_REPORT"))
    std::ofstream(path, std::ios::app) << line;
}

} // namespace

TEMPLATE_TEST_CASE("TLS: silent and partial handshakes are closed at the handshake timeout",
                   "[hostile][tls]", LITHE_BACKENDS) {
  raise_fd_limit();
  Target t("hello", TestType::name, tls_flags({"--tls-handshake-timeout", "1s"}));
  warm_up(t);
  Attack o{.name = "tls-slow-handshake", .backend = TestType::name, .connections = 2000};
  o.rss_before_kib = t.rss_kib();
  std::string hello = client_hello();
  REQUIRE(hello.size() > 100);
  std::vector<int> silent = open_connections(t.port(), 1000);  // connect, say nothing
  std::vector<int> partial = open_connections(t.port(), 1000); // half a ClientHello, silence
  REQUIRE(silent.size() + partial.size() == o.connections);
  std::this_thread::sleep_for(200ms); // connected
  send_each(partial, std::string_view(hello).substr(0, hello.size() / 2));
  o.rss_peak_kib = peak_rss(
      t, [] { return false; }, 300ms);
  tls_probe_during(o, t);
  int dropped = 0;
  auto start = std::chrono::steady_clock::now();
  for (auto* set : {&silent, &partial})
    for (int fd : *set)
      dropped += closed_by_server(fd, 5s);
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(dropped == static_cast<int>(o.connections));
  CHECK(took < 5.0); // at the 1 s timeout, not some later one
  finish(o, t);
  close_all(silent);
  close_all(partial);
  CHECK(t.stop() == 0);
}

TEMPLATE_TEST_CASE("TLS: a handshake flood leaves a keep-alive client answered and the CPU idle "
                   "after",
                   "[hostile][tls]", LITHE_BACKENDS) {
  raise_fd_limit();
  Target t("hello", TestType::name, tls_flags());
  warm_up(t);
  Attack o{.name = "tls-handshake-flood", .backend = TestType::name, .connections = 4};
  o.rss_before_kib = t.rss_kib();
  TlsClient keep(t.port());
  REQUIRE(keep.ok());
  REQUIRE(keep.get() == 200);
  std::atomic<bool> flooding{true};
  std::atomic<long> handshakes{0}, failures{0};
  double cpu_before = t.cpu_seconds();
  std::vector<std::thread> flood;
  for (std::size_t i = 0; i < o.connections; ++i)
    flood.emplace_back([&] {
      while (flooding) {
        TlsClient c(t.port());
        (c.ok() ? handshakes : failures)++;
      }
    });
  long answered = 0, asked = 0;
  auto until = std::chrono::steady_clock::now() + 3s;
  long peak = o.rss_before_kib;
  while (std::chrono::steady_clock::now() < until) {
    auto start = std::chrono::steady_clock::now();
    ++asked;
    if (keep.get() == 200) {
      ++answered;
      o.probes.push_back(std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::steady_clock::now() - start));
    }
    peak = std::max(peak, t.rss_kib());
    std::this_thread::sleep_for(20ms); // a client's think time, not synchronisation
  }
  tls_probe_during(o, t, 3); // new clients get through too
  flooding = false;
  for (auto& f : flood)
    f.join();
  double cpu_flood = t.cpu_seconds() - cpu_before;
  o.rss_peak_kib = std::max(peak, t.rss_kib());
  char line[200];
  std::snprintf(line, sizeof line,
                "hostile tls-handshake-flood-rate %s handshakes=%ld failed=%ld per_s=%.0f "
                "server_cpu_ms_per_handshake=%.3f keepalive_answered=%ld/%ld\n",
                TestType::name, handshakes.load(), failures.load(), handshakes.load() / 3.0,
                handshakes ? cpu_flood * 1000 / static_cast<double>(handshakes.load()) : 0.0,
                answered, asked);
  report_line(line);
  CHECK(handshakes > 100);
  CHECK(answered == asked);
  finish(o, t); // the CPU back near zero once the flood stopped
  CHECK(keep.get() == 200);
  CHECK(t.stop() == 0);
}

TEMPLATE_TEST_CASE("TLS: clients that leave right after the handshake are closed at once",
                   "[hostile][tls]", LITHE_BACKENDS) {
  // The server reads the FIN, sends close_notify behind its session tickets, and the peer,
  // gone, answers with a reset: the connection must end on that write error, not sit for the
  // 5 s drain bound with its fd and SSL state (a handshake flood would pile them up).
  raise_fd_limit();
  Target t("hello", TestType::name, tls_flags());
  warm_up(t);
  int files_before = open_files(t);
  Attack o{.name = "tls-leave-after-handshake", .backend = TestType::name, .connections = 300};
  o.rss_before_kib = t.rss_kib();
  int done = 0;
  for (std::size_t i = 0; i < o.connections; ++i)
    done += TlsClient(t.port()).ok(); // handshake, then close without reading
  CHECK(done == static_cast<int>(o.connections));
  o.rss_peak_kib = std::max(o.rss_before_kib, t.rss_kib());
  int left = open_files(t) - files_before;
  char line[160];
  std::snprintf(line, sizeof line,
                "hostile tls-leave-after-handshake %s conns=%zu still_open_right_after=%d\n",
                TestType::name, o.connections, left);
  report_line(line);
  CHECK(files_drop_to(t, files_before, 1s));
  tls_probe_during(o, t);
  finish(o, t);
  CHECK(t.stop() == 0);
}

TEMPLATE_TEST_CASE("TLS: garbage records after the handshake close the connection without a spin",
                   "[hostile][tls]", LITHE_BACKENDS) {
  raise_fd_limit();
  Target t("hello", TestType::name, tls_flags({"--header-timeout", "1s", "--idle-timeout", "1s"}));
  warm_up(t);
  Attack o{.name = "tls-garbage-records", .backend = TestType::name, .connections = 300};
  o.rss_before_kib = t.rss_kib();
  std::vector<std::unique_ptr<TlsClient>> cs;
  for (std::size_t i = 0; i < o.connections; ++i) {
    cs.push_back(std::make_unique<TlsClient>(t.port()));
    REQUIRE(cs.back()->ok());
  }
  // A third random bytes, a third a record header claiming 16 KiB then silence, a third a
  // header with a length past any record's (65,535).
  std::string header_16k("\x17\x03\x03\x40\x00", 5);
  header_16k += std::string(100, 'x');
  std::string header_huge("\x17\x03\x03\xff\xff", 5);
  header_huge += std::string(64, 'x');
  for (std::size_t i = 0; i < cs.size(); ++i) {
    std::string bytes = i % 3 == 0   ? random_bytes(1024, static_cast<unsigned>(i))
                        : i % 3 == 1 ? header_16k
                                     : header_huge;
    ::send(cs[i]->fd(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
  }
  o.rss_peak_kib = peak_rss(
      t, [] { return false; }, 300ms);
  o.cpu_stalled = cpu_share(t, 500ms); // the 16 KiB claims wait: nothing to do meanwhile
  tls_probe_during(o, t);
  int dropped = 0;
  for (auto& c : cs)
    dropped += closed_by_server(c->fd(), 5s);
  CHECK(dropped == static_cast<int>(o.connections));
  double stalled = o.cpu_stalled;
  finish(o, t);
  CHECK(stalled < 0.3);
  CHECK(t.stop() == 0);
}

TEMPLATE_TEST_CASE("TLS: plain HTTP on the TLS port is answered 400, garbage is closed",
                   "[hostile][tls]", LITHE_BACKENDS) {
  raise_fd_limit();
  Target t("hello", TestType::name, tls_flags());
  warm_up(t);
  Attack o{.name = "tls-plain-and-garbage", .backend = TestType::name, .connections = 2000};
  o.rss_before_kib = t.rss_kib();
  std::vector<int> plain = open_connections(t.port(), 1000);
  std::vector<int> garbage = open_connections(t.port(), 1000);
  REQUIRE(plain.size() + garbage.size() == o.connections);
  std::this_thread::sleep_for(200ms); // connected
  send_each(plain, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
  send_each(garbage, random_bytes(600, 7));
  o.rss_peak_kib = peak_rss(
      t, [] { return false; }, 300ms);
  tls_probe_during(o, t);
  int answered = 0, closed = 0;
  for (int fd : plain)
    answered += read_head(fd, 3s).rfind("HTTP/1.1 400", 0) == 0;
  for (int fd : garbage)
    closed += closed_by_server(fd, 3s);
  CHECK(answered == 1000);
  CHECK(closed == 1000);
  finish(o, t);
  close_all(plain);
  close_all(garbage);
  CHECK(t.stop() == 0);
}

TEMPLATE_TEST_CASE("TLS: renegotiation attempts are refused and cost the server little",
                   "[hostile][tls]", LITHE_BACKENDS) {
  raise_fd_limit();
  Target t("hello", TestType::name, tls_flags());
  warm_up(t);
  Attack o{.name = "tls-renegotiation", .backend = TestType::name, .connections = 200};
  o.rss_before_kib = t.rss_kib();
  // The handshakes first, so the CPU measured below is the renegotiation attempts' alone.
  std::vector<std::unique_ptr<TlsClient>> cs;
  for (std::size_t i = 0; i < o.connections; ++i) {
    cs.push_back(std::make_unique<TlsClient>(t.port(), true));
    REQUIRE(cs.back()->ok());
    REQUIRE(SSL_version(cs.back()->ssl()) == TLS1_2_VERSION);
  }
  double cpu_before = t.cpu_seconds();
  int refused = 0;
  for (auto& c : cs) {
    REQUIRE(SSL_renegotiate(c->ssl()) == 1);
    SSL_do_handshake(c->ssl()); // sends the new ClientHello; the server's answer is refusal
    ERR_clear_error();
    char b;
    int n = SSL_read(c->ssl(), &b, 1); // a no_renegotiation alert, or the connection closed
    ERR_clear_error();
    refused += n <= 0 && closed_by_server(c->fd(), 3s);
  }
  double cpu = t.cpu_seconds() - cpu_before;
  o.rss_peak_kib = std::max(o.rss_before_kib, t.rss_kib());
  char line[160];
  std::snprintf(line, sizeof line,
                "hostile tls-renegotiation-cost %s attempts=%zu refused=%d server_cpu_ms=%.1f\n",
                TestType::name, o.connections, refused, cpu * 1000);
  report_line(line);
  CHECK(refused == static_cast<int>(o.connections));
  // A refused attempt costs far less than a handshake (about 1 ms of CPU each): under 0.2 ms.
  CHECK(cpu < 0.2e-3 * static_cast<double>(o.connections) + 0.05);
  tls_probe_during(o, t);
  finish(o, t);
  CHECK(t.stop() == 0);
}

TEMPLATE_TEST_CASE("TLS: slow readers of a large file cost their high-water mark and meet the "
                   "send timeout",
                   "[hostile][tls]", LITHE_BACKENDS) {
  raise_fd_limit();
  TempDir dir;
  dir.sparse_file("big.bin", 64 << 20);
  dir.text_file("small.txt", "small\n");
  Target t("static", TestType::name, tls_flags({"--root", dir.path(), "--send-timeout", "3s"}));
  warm_up(t, "/small.txt");
  int files_before = open_files(t);
  Attack o{.name = "tls-slow-read", .backend = TestType::name, .connections = 50};
  o.rss_before_kib = t.rss_kib();
  std::vector<std::unique_ptr<TlsClient>> cs;
  for (std::size_t i = 0; i < o.connections; ++i) {
    cs.push_back(std::make_unique<TlsClient>(t.port(), false, 8192));
    REQUIRE(cs.back()->ok());
    REQUIRE(cs.back()->send("GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  }
  o.rss_peak_kib = peak_rss(
      t, [] { return false; }, 2s); // they read nothing
  tls_probe_during(o, t, 5, "/small.txt");
  // Each holds the engine's high-water mark and a few records, well under its 1 MiB budget
  // (under ASan a heap byte costs more: its redzones and quarantine, as Attack::allowed_kib).
#ifdef LITHE_SANITIZED
  constexpr long sanitizer_factor = 4;
#else
  constexpr long sanitizer_factor = 1;
#endif
  CHECK(o.rss_growth_kib() * 1024 / static_cast<long>(o.connections) <
        512 * 1024 * sanitizer_factor);
  finish(o, t);
  // The send timeout (3 s without progress) closes every one of them.
  auto start = std::chrono::steady_clock::now();
  CHECK(files_drop_to(t, files_before, 10s));
  char line[160];
  std::snprintf(line, sizeof line, "hostile tls-slow-read-closed %s after_s=%.1f\n", TestType::name,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  report_line(line);
  CHECK(t.stop() == 0);
}

TEMPLATE_TEST_CASE("TLS: idle keep-alive connections hold little once OpenSSL's buffers are "
                   "released",
                   "[hostile][tls]", LITHE_BACKENDS) {
  raise_fd_limit();
  Target t("hello", TestType::name, tls_flags());
  warm_up(t);
  Attack o{.name = "tls-idle-keepalive", .backend = TestType::name, .connections = 2000};
  o.rss_before_kib = t.rss_kib();
  std::vector<std::unique_ptr<TlsClient>> cs;
  for (std::size_t i = 0; i < o.connections; ++i) {
    cs.push_back(std::make_unique<TlsClient>(t.port()));
    REQUIRE(cs.back()->ok());
    REQUIRE(cs.back()->get() == 200);
  }
  o.rss_peak_kib = peak_rss(
      t, [] { return false; }, 300ms);
  tls_probe_during(o, t);
  long per_conn = o.rss_growth_kib() * 1024 / static_cast<long>(o.connections);
  char line[160];
  std::snprintf(line, sizeof line, "hostile tls-idle-keepalive-per-conn %s conns=%zu bytes=%ld\n",
                TestType::name, o.connections, per_conn);
  report_line(line);
  CHECK(per_conn < 64 * 1024);
  finish(o, t);
  for (std::size_t i = 0; i < cs.size(); i += 97) // still served after their idle time so far
    CHECK(cs[i]->get() == 200);
  CHECK(t.stop() == 0);
}
