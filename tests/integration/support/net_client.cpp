// Test support: in-process servers, a raw client with deadlines (plain or TLS through
// OpenSSL on a non-blocking socket, so every wait stays a poll with a deadline), bounded
// subprocesses.
#include "net_client.hpp"

#include "dev_certs.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spawn.h>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace lithe::test {

namespace {

ServerOptions options_for(std::string backend, HttpOptions http, int threads) {
  ServerOptions o;
  o.backend = std::move(backend);
  o.listen.host = "127.0.0.1";
  o.listen.port = 0;
  o.listen.threads = threads;
  o.http = std::move(http);
  o.stop_deadline = 2s;
  return o;
}

int remaining_ms(std::chrono::steady_clock::time_point until) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  until - std::chrono::steady_clock::now())
                  .count();
  return left < 0 ? 0 : static_cast<int>(left);
}

} // namespace

TlsOptions dev_tls() {
  TlsOptions t;
  t.certificates = {{dev_certs().cert, dev_certs().key}};
  return t;
}

ServerOptions TestServer::tagged_options(bool tls, HttpOptions http, int threads) {
  ServerOptions o;
  o.http = std::move(http);
  o.listen.threads = threads;
  return with_dev_tls(tls, std::move(o));
}

ServerOptions TestServer::with_dev_tls(bool tls, ServerOptions options) {
  if (tls && options.tls.certificates.empty()) options.tls = dev_tls();
  return options;
}

TestServer::TestServer(std::string backend, App app, HttpOptions http, int threads)
    : server_(std::move(app), options_for(std::move(backend), std::move(http), threads)) {
  if (std::error_code ec = server_.start())
    throw std::runtime_error("test server did not start: " + ec.message());
}

TestServer::TestServer(std::string backend, App app, ServerOptions options)
    : server_(std::move(app),
              [&] {
                ServerOptions o = std::move(options);
                ServerOptions base = options_for(std::move(backend), o.http, o.listen.threads);
                base.listen.max_connections = o.listen.max_connections;
                base.thread_pool = o.thread_pool;
                base.tls = std::move(o.tls);
                base.proxy_protocol = o.proxy_protocol;
                base.listen.unix_path = o.listen.unix_path;
                base.listen.unix_mode = o.listen.unix_mode;
                base.listen.tcp_too = o.listen.tcp_too;
                return base;
              }()),
      tls_(!server_.options().tls.certificates.empty()) {
  if (std::error_code ec = server_.start())
    throw std::runtime_error("test server did not start: " + ec.message() + " " +
                             server_.error_message());
}

TestServer::~TestServer() {
  server_.stop();
}

bool TestServer::settles(std::chrono::milliseconds within) const {
  auto until = std::chrono::steady_clock::now() + within;
  for (;;) {
    WorkerStats s = server_.stats();
    if (s.exchanges == 0 && s.awaiting == 0 && s.bodies == 0 && s.sockets == 0) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(5ms); // polling a counter, bounded: not synchronisation
  }
}

std::string TestServer::url(std::string_view path) const {
  return (tls_ ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(port()) +
         std::string(path);
}

std::vector<std::string> TestServer::curl(std::vector<std::string> args) const {
  std::vector<std::string> argv = {"curl", "-sS", "--max-time", "10"};
  if (tls_) {
    argv.emplace_back("--cacert");
    argv.push_back(dev_certs().ca);
  }
  argv.insert(argv.end(), std::make_move_iterator(args.begin()),
              std::make_move_iterator(args.end()));
  return argv;
}

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (iequals(n, name)) return v;
  return std::nullopt;
}

std::size_t HttpResponse::count(std::string_view name) const {
  std::size_t n = 0;
  for (const auto& h : headers)
    n += iequals(h.first, name);
  return n;
}

RawClient::RawClient(std::uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd_);
    fd_ = -1;
    return;
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

RawClient::RawClient(const TestServer& server) : RawClient(server.port()) {
  if (server.tls() && fd_ >= 0) start_tls({.ca_file = dev_certs().ca});
}

RawClient::RawClient(std::uint16_t port, const TlsClientOptions& tls) : RawClient(port) {
  if (fd_ >= 0) start_tls(tls);
}

void RawClient::SslFree::operator()(ssl_st* s) const noexcept {
  SSL_free(s);
}

void RawClient::SslFree::operator()(ssl_ctx_st* c) const noexcept {
  SSL_CTX_free(c);
}

namespace {
// OpenSSL's error queue as text (emptied), or `fallback`.
std::string ssl_errors(std::string fallback) {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char line[256];
    ERR_error_string_n(e, line, sizeof line);
    out += out.empty() ? "" : "; ";
    out += line;
  }
  return out.empty() ? fallback : out;
}
} // namespace

void RawClient::start_tls(const TlsClientOptions& tls) {
  auto fail = [this](std::string why) {
    tls_error_ = std::move(why);
    ssl_.reset();
    ::close(fd_);
    fd_ = -1;
  };
  ctx_.reset(SSL_CTX_new(TLS_client_method()));
  if (!ctx_) return fail(ssl_errors("SSL_CTX_new"));
  SSL_CTX_set_min_proto_version(ctx_.get(), TLS1_2_VERSION);
  if (tls.max_version) SSL_CTX_set_max_proto_version(ctx_.get(), tls.max_version);
  if (!tls.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx_.get(), tls.ca_file.c_str(), nullptr) != 1)
      return fail(ssl_errors("cannot load " + tls.ca_file));
    SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER, nullptr);
  }
  ssl_.reset(SSL_new(ctx_.get()));
  if (!ssl_) return fail(ssl_errors("SSL_new"));
  SSL_set_mode(ssl_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_set_fd(ssl_.get(), fd_);
  if (!tls.server_name.empty()) {
    SSL_set_tlsext_host_name(ssl_.get(), tls.server_name.c_str());
    SSL_set1_host(ssl_.get(), tls.server_name.c_str());
  } else {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_.get()), "127.0.0.1");
  }
  if (!tls.alpn.empty()) {
    std::string wire;
    for (const std::string& p : tls.alpn) {
      wire += static_cast<char>(p.size());
      wire += p;
    }
    SSL_set_alpn_protos(ssl_.get(), reinterpret_cast<const unsigned char*>(wire.data()),
                        static_cast<unsigned>(wire.size()));
  }
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
  auto until = std::chrono::steady_clock::now() + 5s;
  for (;;) {
    int r = SSL_connect(ssl_.get());
    if (r == 1) return;
    int e = SSL_get_error(ssl_.get(), r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
      return fail(ssl_errors("handshake: the peer closed the connection"));
    pollfd p{fd_, static_cast<short>(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
    if (::poll(&p, 1, remaining_ms(until)) <= 0) return fail("handshake: no answer within 5 s");
  }
}

std::string RawClient::peer_name() const {
  if (!ssl_) return "";
  X509* cert = SSL_get0_peer_certificate(ssl_.get());
  if (!cert) return "";
  char cn[256] = "";
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
  return cn;
}

std::string RawClient::tls_version() const {
  return ssl_ ? SSL_get_version(ssl_.get()) : "";
}

RawClient::~RawClient() {
  ssl_.reset(); // before the socket it refers to
  if (fd_ >= 0) ::close(fd_);
}

bool RawClient::send(std::string_view bytes) {
  if (ssl_) {
    auto until = std::chrono::steady_clock::now() + 30s;
    while (!bytes.empty()) {
      int n = SSL_write(ssl_.get(), bytes.data(),
                        static_cast<int>(std::min<std::size_t>(bytes.size(), 1 << 20)));
      if (n > 0) {
        bytes.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      int e = SSL_get_error(ssl_.get(), n);
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        ERR_clear_error();
        return false;
      }
      pollfd p{fd_, static_cast<short>(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
      if (::poll(&p, 1, remaining_ms(until)) <= 0) return false;
    }
    return true;
  }
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

bool RawClient::send_in_pieces(std::string_view bytes, std::size_t piece) {
  for (std::size_t i = 0; i < bytes.size(); i += piece)
    if (!send(bytes.substr(i, piece))) return false;
  return true;
}

void RawClient::shutdown_write() {
  if (ssl_) SSL_shutdown(ssl_.get()); // close_notify, TLS's end of the stream
  ::shutdown(fd_, SHUT_WR);
}

void RawClient::set_receive_buffer(int bytes) {
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
}

bool RawClient::fill(std::chrono::steady_clock::time_point until) {
  if (eof_) return false;
  if (ssl_) {
    for (;;) {
      char tmp[65536];
      int n = SSL_read(ssl_.get(), tmp, sizeof tmp);
      if (n > 0) {
        buf_.append(tmp, static_cast<std::size_t>(n));
        return true;
      }
      int e = SSL_get_error(ssl_.get(), n);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        pollfd p{fd_, static_cast<short>(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
        if (::poll(&p, 1, remaining_ms(until)) <= 0) return false;
        continue;
      }
      clean_close_ = e == SSL_ERROR_ZERO_RETURN;
      ERR_clear_error();
      eof_ = true;
      return false;
    }
  }
  pollfd p{fd_, POLLIN, 0};
  int r = ::poll(&p, 1, remaining_ms(until));
  if (r <= 0) return false;
  char tmp[65536];
  ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
  if (n <= 0) {
    eof_ = true;
    return false;
  }
  buf_.append(tmp, static_cast<std::size_t>(n));
  return true;
}

std::string RawClient::read_bytes(std::size_t n, std::chrono::milliseconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (buf_.size() < n && fill(until)) {
  }
  std::string out = buf_.substr(0, std::min(n, buf_.size()));
  buf_.erase(0, out.size());
  return out;
}

std::string RawClient::read_until(std::string_view what, std::chrono::milliseconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  std::size_t at;
  while ((at = buf_.find(what)) == std::string::npos && fill(until)) {
  }
  std::size_t n = at == std::string::npos ? buf_.size() : at + what.size();
  std::string out = buf_.substr(0, n);
  buf_.erase(0, n);
  return out;
}

bool RawClient::closed_by_peer(std::chrono::milliseconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (!eof_) {
    if (!fill(until) && !eof_) return false;
    buf_.clear();
  }
  return true;
}

std::optional<HttpResponse> RawClient::read_response(std::chrono::milliseconds deadline,
                                                     bool head) {
  auto until = std::chrono::steady_clock::now() + deadline;
  std::size_t end;
  while ((end = buf_.find("\r\n\r\n")) == std::string::npos)
    if (!fill(until)) return std::nullopt;
  HttpResponse r;
  std::string_view h(buf_.data(), end);
  std::size_t line_end = h.find("\r\n");
  std::string_view status_line = h.substr(0, line_end);
  r.version = std::string(status_line.substr(0, 8));
  std::from_chars(status_line.data() + 9, status_line.data() + 12, r.status);
  if (status_line.size() > 13) r.reason = std::string(status_line.substr(13));
  std::size_t pos = line_end == std::string_view::npos ? h.size() : line_end + 2;
  while (pos < h.size()) {
    std::size_t e = h.find("\r\n", pos);
    if (e == std::string_view::npos) e = h.size();
    std::string_view line = h.substr(pos, e - pos);
    std::size_t colon = line.find(':');
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ')
      value.remove_prefix(1);
    r.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
    pos = e + 2;
  }
  buf_.erase(0, end + 4);
  if (head || (r.status >= 100 && r.status < 200) || r.status == 204 || r.status == 304) return r;
  if (auto te = r.header("transfer-encoding"); te && iequals(*te, "chunked")) {
    r.chunked = true;
    for (;;) {
      std::size_t e;
      while ((e = buf_.find("\r\n")) == std::string::npos)
        if (!fill(until)) return std::nullopt;
      std::size_t size = 0;
      std::from_chars(buf_.data(), buf_.data() + e, size, 16);
      while (buf_.size() < e + 2 + size + 2)
        if (!fill(until)) return std::nullopt;
      r.body.append(buf_, e + 2, size);
      buf_.erase(0, e + 2 + size + 2);
      if (size == 0) return r;
    }
  }
  if (auto cl = r.header("content-length")) {
    std::size_t n = std::stoull(*cl);
    while (buf_.size() < n)
      if (!fill(until)) return std::nullopt;
    r.body = buf_.substr(0, n);
    buf_.erase(0, n);
    return r;
  }
  while (fill(until)) { // close-delimited
  }
  if (!eof_) return std::nullopt;
  r.body = std::move(buf_);
  buf_.clear();
  return r;
}

std::string get(std::string_view path, std::string_view extra_headers) {
  std::string r = "GET ";
  r.append(path);
  r.append(" HTTP/1.1\r\nHost: test\r\n");
  r.append(extra_headers);
  r.append("\r\n");
  return r;
}

std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

bool accepting(std::uint16_t port, std::chrono::milliseconds within) {
  auto deadline = std::chrono::steady_clock::now() + within;
  for (;;) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    if (ok) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms); // polling a port, bounded: not synchronisation
  }
}

Daemon::Daemon(std::vector<std::string> argv, std::vector<std::string> env) {
  pid_ = ::fork();
  if (pid_ == 0) {
    for (std::string& e : env)
      ::putenv(e.data());
    std::vector<char*> args;
    for (std::string& a : argv)
      args.push_back(a.data());
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::_Exit(127);
  }
  if (pid_ < 0) throw std::runtime_error("fork failed");
}

int Daemon::stop(int sig) {
  if (pid_ > 0) {
    ::kill(pid_, sig);
    ::waitpid(pid_, &status_, 0);
    pid_ = -1;
  }
  return status_;
}

Daemon::~Daemon() {
  stop(SIGTERM);
}

ProcessResult run_process(const std::vector<std::string>& argv, std::chrono::milliseconds deadline,
                          std::string_view stdin_data, const std::vector<std::string>& env) {
  ProcessResult result;
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC)) return result;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e)
    env_strings.emplace_back(*e);
  for (const std::string& e : env)
    env_strings.push_back(e);
  std::vector<char*> envp;
  for (std::string& e : env_strings)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  if (rc != 0) {
    ::close(in[1]);
    ::close(out[0]);
    ::close(err[0]);
    result.err = std::string("cannot run ") + argv[0] + ": " + std::strerror(rc);
    return result;
  }
  std::thread feeder([fd = in[1], data = std::string(stdin_data)] {
    std::string_view left = data;
    while (!left.empty()) {
      ssize_t n = ::write(fd, left.data(), left.size());
      if (n <= 0) break;
      left.remove_prefix(static_cast<std::size_t>(n));
    }
    ::close(fd);
  });
  auto until = std::chrono::steady_clock::now() + deadline;
  bool out_open = true, err_open = true;
  while (out_open || err_open) {
    pollfd p[2] = {{out_open ? out[0] : -1, POLLIN, 0}, {err_open ? err[0] : -1, POLLIN, 0}};
    int r = ::poll(p, 2, remaining_ms(until));
    if (r <= 0) break;
    char tmp[65536];
    for (int i = 0; i < 2; ++i) {
      if (!(p[i].revents & (POLLIN | POLLHUP))) continue;
      ssize_t n = ::read(p[i].fd, tmp, sizeof tmp);
      if (n <= 0) {
        (i == 0 ? out_open : err_open) = false;
        continue;
      }
      (i == 0 ? result.out : result.err).append(tmp, static_cast<std::size_t>(n));
    }
  }
  int status = 0;
  if (out_open || err_open) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    result.exit_code = -1;
  } else {
    ::waitpid(pid, &status, 0);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  feeder.join();
  ::close(out[0]);
  ::close(err[0]);
  return result;
}

std::string big_body(std::size_t n) {
  std::string s(n, 'x');
  for (std::size_t i = 0; i < n; i += 1000)
    s[i] = static_cast<char>('a' + (i / 1000) % 26);
  return s;
}

App conformance_app() {
  return [](Env& env) -> Response {
    std::string_view path = env.path();
    if (path == "/") return {200, {{"Content-Type", "text/plain"}}, "Hello, World!"};
    if (path == "/echo") {
      std::string type(env.content_type().empty() ? "application/octet-stream"
                                                  : env.content_type());
      return {200, {{"Content-Type", std::move(type)}}, std::string(env.body())};
    }
    if (path == "/path") return {200, {}, std::string(env.target())};
    if (path.starts_with("/delay/")) {
      int ms = std::stoi(std::string(path.substr(7)));
      Loop& loop = env.loop();
      TimerId id = loop.add_timer(Millis(ms), [cb = env.async_callback(), ms] {
        cb({200, {{"Content-Type", "text/plain"}}, "waited " + std::to_string(ms) + " ms\n"});
      });
      // A well-behaved async app: if the client leaves, stop the work and free its state.
      env.on_close([&loop, id](CloseReason why) {
        if (why != CloseReason::done) loop.cancel_timer(id);
      });
      return async;
    }
    if (path.starts_with("/stream/")) {
      int n = std::stoi(std::string(path.substr(8)));
      DeferrableBody body;
      auto left = std::make_shared<int>(n);
      Loop& loop = env.loop();
      TimerId id = loop.add_periodic_timer(Millis(1), [body, left] {
        if (*left > 0) body.write("chunk " + std::to_string((*left)--) + "\n");
        if (*left == 0) body.succeed();
      });
      body.on_close([id, &loop](CloseReason) { loop.cancel_timer(id); });
      return {200, {{"Content-Type", "text/plain"}}, body};
    }
    if (path.starts_with("/big/") || path.starts_with("/file/")) {
      bool file = path.starts_with("/file/");
      std::size_t n = std::stoull(std::string(path.substr(file ? 6 : 5)));
      std::string s = big_body(n);
      if (!file) return {200, {{"Content-Type", "application/octet-stream"}}, std::move(s)};
      // The same bytes from a file, so the engine sends them with sendfile(2).
      char name[] = "/tmp/lithe-file-XXXXXX";
      int fd = ::mkstemp(name);
      ::unlink(name);
      if (fd < 0 || ::write(fd, s.data(), s.size()) != static_cast<ssize_t>(s.size()))
        return {500, {}, "temporary file\n"};
      return {200, {{"Content-Type", "application/octet-stream"}}, FileRange{File(fd), 0, n}};
    }
    if (path == "/env") {
      std::string out;
      for (const char* k :
           {"REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "SERVER_NAME",
            "SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR", "HTTP_X_TEST", "lithe.url_scheme"})
        out += std::string(k) + "=" + std::string(env[k]) + "\n";
      return {200, {{"Content-Type", "text/plain"}}, std::move(out)};
    }
    return {404, {{"Content-Type", "text/plain"}}, "Not Found\n"};
  };
}

} // namespace lithe::test
