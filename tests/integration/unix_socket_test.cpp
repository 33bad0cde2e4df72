// Listening on a unix socket (--unix PATH) on every backend: curl --unix-socket, nginx and
// haproxy upstreams over it, TLS over it, the socket file's mode, a stale file replaced, a
// live one or a foreign file refused, the file removed at stop, and a socket beside TCP.
#include "support/app_process.hpp"
#include "support/backends.hpp"
#include "support/net_client.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

using namespace lithe;
using namespace lithe::test;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/lithe-unix.XXXXXX";
    REQUIRE(::mkdtemp(tmpl));
    path = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

ServerOptions on_unix(const std::string& path, unsigned mode = 0660) {
  ServerOptions o;
  o.listen.unix_path = path;
  o.listen.unix_mode = mode;
  return o;
}

App who_app() {
  return [](Env& env) -> Response {
    return {200,
            {{"Content-Type", "text/plain"}},
            std::string(env.url_scheme()) + " " + std::string(env.remote_addr()) + " " +
                std::string(env.server_port()) + " " + std::to_string(env.body().size())};
  };
}

ProcessResult curl_unix(const std::string& sock, std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {"curl", "-sS", "--max-time", "10", "--unix-socket", sock};
  argv.insert(argv.end(), extra.begin(), extra.end());
  if (extra.empty() || extra.back().find("://") == std::string::npos)
    argv.push_back("http://localhost/");
  return run_process(argv);
}

} // namespace

TEMPLATE_TEST_CASE("A unix socket serves curl with REMOTE_ADDR 127.0.0.1 and port 80", "[unix]",
                   LITHE_BACKENDS) {
  TempDir d;
  std::string sock = d.path + "/lithe.sock";
  {
    TestServer s(TestType::name, who_app(), on_unix(sock, 0600));
    struct stat st {};
    REQUIRE(::stat(sock.c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK((st.st_mode & 0777) == 0600);
    auto r = curl_unix(sock);
    CHECK(r.exit_code == 0);
    CHECK(r.out == "http 127.0.0.1 80 0");
    r = curl_unix(sock, {"--data-binary", std::string(100000, 'x'), "http://localhost/"});
    CHECK(r.out == "http 127.0.0.1 80 100000");
    CHECK(s.settles());
  }
  CHECK_FALSE(std::filesystem::exists(sock)); // removed at stop
}

TEMPLATE_TEST_CASE("A unix socket beside a TCP port: both serve, each with its own SERVER_PORT",
                   "[unix]", LITHE_BACKENDS) {
  TempDir d;
  std::string sock = d.path + "/lithe.sock";
  {
    ServerOptions o = on_unix(sock);
    o.listen.tcp_too = true;
    o.listen.threads = 2;
    TestServer s(TestType::name, who_app(), o);
    REQUIRE(s.port() != 0);
    REQUIRE(s.port() != 80);
    auto r = curl_unix(sock);
    CHECK(r.exit_code == 0);
    CHECK(r.out == "http 127.0.0.1 80 0");
    for (int i = 0; i < 4; ++i) { // each of the TCP port's two SO_REUSEPORT workers, likely
      RawClient c(s.port());
      REQUIRE(c.send(get("/")));
      auto tcp = c.read_response();
      REQUIRE(tcp);
      CHECK(tcp->body == "http 127.0.0.1 " + std::to_string(s.port()) + " 0");
    }
    CHECK(s.server().listen_sockets().size() == 3); // what a restart hands over: all of them
    CHECK(s.settles());
  }
  CHECK_FALSE(std::filesystem::exists(sock)); // removed at stop
}

TEMPLATE_TEST_CASE("An app given --unix and --port listens on both and says so", "[unix]",
                   LITHE_BACKENDS) {
  TempDir d;
  std::string sock = d.path + "/hello.sock";
  AppProcess app("hello", TestType::name, {"--unix", sock}); // AppProcess adds --port 0
  CHECK(app.out().find(" and unix:" + sock + " (") != std::string::npos);
  auto r = curl_unix(sock);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "Hello, World!");
  RawClient c(app.port());
  REQUIRE(c.send(get("/")));
  auto tcp = c.read_response();
  REQUIRE(tcp);
  CHECK(tcp->body == "Hello, World!");
  CHECK(app.stop() == 0);
  CHECK_FALSE(std::filesystem::exists(sock));
}

TEMPLATE_TEST_CASE("A restart hands over the unix socket and the TCP port together",
                   "[unix][restart]", LITHE_BACKENDS) {
  TempDir d;
  std::string sock = d.path + "/hello.sock";
  RestartingApp app("hello", TestType::name, {"--unix", sock}); // and --port 0
  const pid_t first = app.pid();
  REQUIRE(app.restart() > 0);
  CHECK(app.pid() != first);
  CHECK(curl_unix(sock).out == "Hello, World!"); // the new process, on both
  RawClient c(app.port());
  REQUIRE(c.send(get("/")));
  auto tcp = c.read_response();
  REQUIRE(tcp);
  CHECK(tcp->body == "Hello, World!");
}

TEMPLATE_TEST_CASE("A stale socket file is replaced; a live one or a foreign file is refused",
                   "[unix]", LITHE_BACKENDS) {
  TempDir d;
  std::string sock = d.path + "/lithe.sock";
  { // a socket file nobody accepts on any more
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    sock.copy(a.sun_path, sizeof a.sun_path - 1);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    ::close(fd);
  }
  TestServer s(TestType::name, who_app(), on_unix(sock));
  CHECK(curl_unix(sock).exit_code == 0);
  ServerOptions second = on_unix(sock);
  second.backend = TestType::name;
  Server again(who_app(), second);
  CHECK(again.start() == std::make_error_code(std::errc::address_in_use));
  CHECK(curl_unix(sock).exit_code == 0); // the first is untouched
  std::string file = d.path + "/not-a-socket";
  std::ofstream(file) << "keep me";
  ServerOptions third = on_unix(file);
  third.backend = TestType::name;
  Server foreign(who_app(), third);
  CHECK(foreign.start() == std::make_error_code(std::errc::file_exists));
  std::ifstream in(file);
  std::string kept;
  std::getline(in, kept);
  CHECK(kept == "keep me");
}

TEMPLATE_TEST_CASE("nginx and haproxy reach lithe through a unix socket upstream", "[unix]",
                   LITHE_BACKENDS) {
  TempDir d;
  std::string sock = d.path + "/lithe.sock";
  TestServer s(TestType::name, who_app(), on_unix(sock));
  {
    std::uint16_t port = free_port();
    std::ofstream(d.path + "/nginx.conf")
        << "worker_processes 1;\ndaemon off;\nmaster_process off;\npid " << d.path
        << "/nginx.pid;\nerror_log " << d.path << "/nginx-error.log;\n"
        << "events { worker_connections 64; }\nhttp {\n  access_log off;\n"
        << "  upstream lithe { server unix:" << sock << "; keepalive 4; }\n"
        << "  server {\n    listen 127.0.0.1:" << port << ";\n    location / {\n"
        << "      proxy_pass http://lithe;\n      proxy_http_version 1.1;\n"
        << "      proxy_set_header Connection \"\";\n    }\n  }\n}\n";
    Daemon nginx({"nginx", "-c", d.path + "/nginx.conf", "-e", d.path + "/nginx-error.log"});
    REQUIRE(accepting(port));
    for (int i = 0; i < 3; ++i) { // over nginx's kept-alive upstream connection
      auto r = run_process(
          {"curl", "-sS", "--max-time", "10", "http://127.0.0.1:" + std::to_string(port) + "/"});
      CHECK(r.out == "http 127.0.0.1 80 0");
    }
  }
  {
    std::uint16_t port = free_port();
    std::ofstream(d.path + "/haproxy.cfg")
        << "defaults\n  mode http\n  timeout connect 5s\n  timeout client 10s\n"
        << "  timeout server 10s\nfrontend f\n  bind 127.0.0.1:" << port
        << "\n  default_backend b\nbackend b\n  server lithe " << sock << "\n";
    Daemon haproxy({"haproxy", "-db", "-q", "-f", d.path + "/haproxy.cfg"});
    REQUIRE(accepting(port));
    auto r = run_process(
        {"curl", "-sS", "--max-time", "10", "http://127.0.0.1:" + std::to_string(port) + "/"});
    // haproxy passes the client's Host (127.0.0.1:PORT) on, and SERVER_PORT follows it.
    CHECK(r.out == "http 127.0.0.1 " + std::to_string(port) + " 0");
  }
  CHECK(s.settles());
}

TEMPLATE_TEST_CASE("HTTPS over a unix socket", "[unix][tls]", LITHE_BACKENDS) {
  TempDir d;
  REQUIRE(run_process({std::string(LITHE_SOURCE_DIR) + "/scripts/dev-cert", d.path}).exit_code ==
          0);
  std::string sock = d.path + "/lithe.sock";
  ServerOptions o = on_unix(sock);
  o.tls.certificates = {{.cert_file = d.path + "/cert.pem", .key_file = d.path + "/key.pem"}};
  TestServer s(TestType::name, who_app(), o);
  auto r = curl_unix(sock, {"--cacert", d.path + "/ca.pem", "https://localhost/"});
  CHECK(r.exit_code == 0);
  CHECK(r.out == "https 127.0.0.1 80 0");
}
