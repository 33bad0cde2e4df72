// The TLS layer (core/src/tls) in-process: an OpenSSL client with memory BIOs on one side, the
// HTTP engine on the other, the fake transport (tests/support) playing the backend, which traps
// if the layer breaks the transport contract (a write over a write in flight, FIN too early).
#include "fake_transport.hpp"
#include "test_cert.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <lithe/lithe.hpp>
#include <lithe/tls.hpp>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

using namespace lithe;
using lithe::fuzz::FakeTransport;

namespace {

// A self-signed ECDSA certificate for "localhost", written once to a temporary directory.
// Removed with the process's static objects.
struct TestCert {
  std::string dir, cert, key;
  TestCert() {
    char tmpl[] = "/tmp/lithe-tls-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl));
    dir = tmpl;
    cert = dir + "/cert.pem";
    key = dir + "/key.pem";
    REQUIRE(test::write_self_signed_cert(cert, key));
  }
  ~TestCert() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

const TestCert& test_cert() {
  static TestCert c;
  return c;
}

std::shared_ptr<TlsContext> context(TlsOptions o = {}) {
  o.certificates = {{.cert_file = test_cert().cert, .key_file = test_cert().key}};
  std::string error;
  auto ctx = TlsContext::create(o, error);
  INFO(error);
  REQUIRE(ctx);
  return ctx;
}

// An OpenSSL client whose ciphertext goes through two memory BIOs.
struct Client {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = nullptr;
  BIO* from_server = BIO_new(BIO_s_mem());
  BIO* to_server = BIO_new(BIO_s_mem());

  explicit Client(const char* alpn = "\x08http/1.1", bool with_cert = false) {
    if (with_cert) {
      SSL_CTX_use_certificate_file(ctx, test_cert().cert.c_str(), SSL_FILETYPE_PEM);
      SSL_CTX_use_PrivateKey_file(ctx, test_cert().key.c_str(), SSL_FILETYPE_PEM);
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    ssl = SSL_new(ctx);
    SSL_set_bio(ssl, from_server, to_server);
    SSL_set_tlsext_host_name(ssl, "localhost");
    if (alpn)
      SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(alpn),
                          static_cast<unsigned>(std::strlen(alpn)));
    SSL_set_connect_state(ssl);
  }
  ~Client() {
    SSL_free(ssl);
    SSL_CTX_free(ctx);
  }
  std::string take_ciphertext() {
    std::string s;
    char buf[16384];
    int n;
    while ((n = BIO_read(to_server, buf, sizeof buf)) > 0)
      s.append(buf, static_cast<std::size_t>(n));
    return s;
  }
  void give(std::string_view bytes) {
    if (!bytes.empty()) BIO_write(from_server, bytes.data(), static_cast<int>(bytes.size()));
  }
};

// The engine behind the TLS layer on one fake connection, and a client talking to it.
struct Session {
  ManualLoop loop;
  FakeTransport t{loop};
  std::unique_ptr<Service> service;
  Client client;
  std::string to_server; // client bytes the server is not reading yet
  std::size_t seen = 0;  // server output already given to the client
  std::string plain;     // what the client decrypted

  Session(App app, std::shared_ptr<TlsContext> tls, HttpOptions o = {}, std::size_t cap = 0,
          const char* alpn = "\x08http/1.1", bool client_cert = false)
      : client(alpn, client_cert) {
    service = tls_service(http_service(std::move(app), std::move(o)),
                          std::move(tls))(loop, ListenInfo{.port = 8443});
    t.set_capture(true);
    t.set_write_cap(cap);
    ManualLoop::Scope scope(loop);
    t.attach(service->accept(t));
    t.settle();
  }
  ~Session() {
    ManualLoop::Scope scope(loop);
    t.reset();
  }

  // Moves bytes both ways until neither side has anything new.
  void pump() {
    ManualLoop::Scope scope(loop);
    for (int round = 0; round < 200; ++round) {
      if (!SSL_is_init_finished(client.ssl)) SSL_do_handshake(client.ssl);
      to_server += client.take_ciphertext();
      bool moved = false;
      if (!to_server.empty() && t.readable()) {
        std::string bytes = std::move(to_server);
        to_server.clear();
        t.read(bytes);
        moved = true;
      }
      t.settle();
      if (t.output().size() > seen) {
        client.give(std::string_view(t.output()).substr(seen));
        seen = t.output().size();
        moved = true;
      }
      char buf[16384];
      int n;
      while ((n = SSL_read(client.ssl, buf, sizeof buf)) > 0) {
        plain.append(buf, static_cast<std::size_t>(n));
        moved = true;
      }
      if (!moved && to_server.empty() && client.take_ciphertext().empty()) {
        if (t.open() && !t.readable() && !t.eof_sent()) { // paused: let time pass
          loop.advance(Millis(10));
          continue;
        }
        return;
      }
    }
  }
  bool handshake() {
    pump();
    return SSL_is_init_finished(client.ssl) == 1;
  }
  void send(std::string_view request) {
    SSL_write(client.ssl, request.data(), static_cast<int>(request.size()));
    pump();
  }
};

App scheme_app() {
  return [](Env& env) -> Response {
    if (env.path() == "/mid")
      return {200, {{"Content-Type", "text/plain"}}, std::string(200 * 1024, 'm')};
    if (env.path() == "/big")
      return {200, {{"Content-Type", "text/plain"}}, std::string(1 << 20, 'b')};
    return {200,
            {{"Content-Type", "text/plain"}},
            std::string(env.url_scheme()) + " " + std::string(env.path())};
  };
}

std::size_t count(const std::string& s, std::string_view what) {
  std::size_t n = 0;
  for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + 1))
    ++n;
  return n;
}

} // namespace

TEST_CASE("A TLS handshake and keep-alive requests reach the engine with url_scheme https") {
  Session s(scheme_app(), context());
  REQUIRE(s.handshake());
  CHECK(std::string(SSL_get_version(s.client.ssl)) == "TLSv1.3");
  const unsigned char* alpn = nullptr;
  unsigned alpn_len = 0;
  SSL_get0_alpn_selected(s.client.ssl, &alpn, &alpn_len);
  CHECK(std::string(reinterpret_cast<const char*>(alpn), alpn_len) == "http/1.1");
  s.send("GET /one HTTP/1.1\r\nHost: localhost\r\n\r\n");
  s.send("GET /two HTTP/1.1\r\nHost: localhost\r\n\r\n");
  CHECK(count(s.plain, "HTTP/1.1 200 OK") == 2);
  CHECK(s.plain.find("https /one") != std::string::npos);
  CHECK(s.plain.find("https /two") != std::string::npos);
  CHECK(s.t.open());
}

TEST_CASE("A 1 MiB answer to a socket that takes 1000 bytes at a time arrives whole") {
  Session s(scheme_app(), context(), {}, 1000);
  REQUIRE(s.handshake());
  s.send("GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n");
  auto body = s.plain.find("\r\n\r\n");
  REQUIRE(body != std::string::npos);
  CHECK(s.plain.size() - body - 4 == std::size_t{1} << 20);
  CHECK(s.plain.find_first_not_of('b', body + 4) == std::string::npos);
  s.send("GET /after HTTP/1.1\r\nHost: localhost\r\n\r\n");
  CHECK(s.plain.find("https /after") != std::string::npos);
}

TEST_CASE("Pipelined requests behind a large answer are all answered in order after a pause") {
  HttpOptions o;
  o.high_water = 16 * 1024; // the engine pauses reading while the big answer is queued
  Session s(scheme_app(), context(), o, 4096);
  REQUIRE(s.handshake());
  // One record per request, all in one read: the engine pauses after the first, and the
  // records behind it wait in the layer (or in OpenSSL) until it resumes.
  auto write = [&](const std::string& r) {
    SSL_write(s.client.ssl, r.data(), static_cast<int>(r.size()));
  };
  write("GET /mid HTTP/1.1\r\nHost: localhost\r\n\r\n");
  for (int i = 0; i < 40; ++i)
    write("GET /p" + std::to_string(i) + " HTTP/1.1\r\nHost: localhost\r\nX-Pad: " +
          std::string(1000, 'p') + "\r\n\r\n"); // 40 KiB in all: more than OpenSSL reads ahead
  s.pump();
  CHECK(count(s.plain, "HTTP/1.1 200 OK") == 41);
  std::size_t last = 0;
  for (int i = 0; i < 40; ++i) {
    auto at = s.plain.find("https /p" + std::to_string(i) + "\r", last);
    if (at == std::string::npos) at = s.plain.find("https /p" + std::to_string(i), last);
    REQUIRE(at != std::string::npos);
    last = at;
  }
}

TEST_CASE("Connection: close ends with close_notify, a clean TLS end for the client") {
  Session s(scheme_app(), context());
  REQUIRE(s.handshake());
  s.send("GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  CHECK(s.plain.find("https /x") != std::string::npos);
  char c;
  int n = SSL_read(s.client.ssl, &c, 1);
  CHECK(n <= 0);
  CHECK(SSL_get_error(s.client.ssl, n) == SSL_ERROR_ZERO_RETURN);
  CHECK((SSL_get_shutdown(s.client.ssl) & SSL_RECEIVED_SHUTDOWN) != 0);
}

TEST_CASE("A plain HTTP request on the TLS port is answered 400 in plain text") {
  Session s(scheme_app(), context());
  ManualLoop::Scope scope(s.loop);
  s.t.read("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
  s.t.settle();
  CHECK(s.t.output().starts_with("HTTP/1.1 400 Bad Request\r\n"));
  CHECK(s.t.output().find("use an https:// URL") != std::string::npos);
  s.t.eof(); // the client closes after reading it: so does the server
  s.t.settle();
  CHECK_FALSE(s.t.open());
}

TEST_CASE("Garbage instead of a ClientHello closes the connection") {
  Session s(scheme_app(), context());
  ManualLoop::Scope scope(s.loop);
  s.t.read(std::string("\x16\x03\x01\x00\x05garbage-garbage", 20));
  s.t.settle();
  CHECK_FALSE(s.t.open());
}

TEST_CASE("A silent connection is closed at the handshake timeout") {
  TlsOptions o;
  o.handshake_timeout = Millis(500);
  Session s(scheme_app(), context(o));
  ManualLoop::Scope scope(s.loop);
  s.loop.advance(Millis(400));
  s.t.settle();
  CHECK(s.t.open());
  s.loop.advance(Millis(200));
  s.t.settle();
  CHECK_FALSE(s.t.open());
}

TEST_CASE("A client offering only protocols the server does not speak is refused (ALPN)") {
  Session s(scheme_app(), context(), {}, 0, "\x02h2");
  CHECK_FALSE(s.handshake());
  CHECK_FALSE(s.t.open());
}

TEST_CASE("A client without ALPN is served http/1.1") {
  Session s(scheme_app(), context(), {}, 0, nullptr);
  REQUIRE(s.handshake());
  s.send("GET /n HTTP/1.1\r\nHost: localhost\r\n\r\n");
  CHECK(s.plain.find("https /n") != std::string::npos);
}

TEST_CASE("A certificate that cannot be loaded is an error naming the file") {
  std::string error;
  TlsOptions o;
  o.certificates = {{.cert_file = "/nonexistent/cert.pem", .key_file = test_cert().key}};
  CHECK_FALSE(TlsContext::create(o, error));
  CHECK(error.find("/nonexistent/cert.pem") != std::string::npos);
  o.certificates = {{.cert_file = test_cert().key, .key_file = test_cert().key}};
  CHECK_FALSE(TlsContext::create(o, error));
  CHECK(error.find("certificate") != std::string::npos);
  TestCert other;
  o.certificates = {{.cert_file = test_cert().cert, .key_file = other.key}};
  CHECK_FALSE(TlsContext::create(o, error));
  CHECK(error.find("does not match") != std::string::npos);
}

TEST_CASE("The app reads the session's protocol, cipher, SNI, ALPN and client certificate") {
  App info = [](Env& env) -> Response {
    std::string out;
    for (const char* k : {"protocol", "cipher", "sni", "alpn", "client_verify", "client_subject"})
      out += std::string(k) + "=" + env.tls_info(k) + "\n";
    out += "pem=" + std::to_string(env.tls_info("client_cert").starts_with("-----BEGIN CERT"));
    return {200, {{"Content-Type", "text/plain"}}, out};
  };
  SECTION("without a client certificate") {
    Session s(info, context());
    REQUIRE(s.handshake());
    s.send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    CHECK(s.plain.find("protocol=TLSv1.3\n") != std::string::npos);
    CHECK(s.plain.find("cipher=TLS_AES_128_GCM_SHA256\n") != std::string::npos);
    CHECK(s.plain.find("sni=localhost\n") != std::string::npos);
    CHECK(s.plain.find("alpn=http/1.1\n") != std::string::npos);
    CHECK(s.plain.find("client_verify=NONE\n") != std::string::npos);
    CHECK(s.plain.find("pem=0") != std::string::npos);
  }
  SECTION("with one the server verified against its client CA") {
    TlsOptions o;
    o.client_ca = test_cert().cert; // self-signed: its own authority
    o.client_cert_required = true;
    Session s(info, context(o), {}, 0, "\x08http/1.1", true);
    REQUIRE(s.handshake());
    s.send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    CHECK(s.plain.find("client_verify=SUCCESS\n") != std::string::npos);
    CHECK(s.plain.find("client_subject=CN=localhost\n") != std::string::npos);
    CHECK(s.plain.find("pem=1") != std::string::npos);
  }
  SECTION("a required certificate the client does not send fails the handshake") {
    TlsOptions o;
    o.client_ca = test_cert().cert;
    o.client_cert_required = true;
    Session s(info, context(o));
    s.handshake();
    s.send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    CHECK(s.plain.empty());
    CHECK_FALSE(s.t.open());
  }
}
