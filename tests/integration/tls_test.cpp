// The backend conformance suite, TLS (SPEC §12, docs/tls.md): HTTPS and WSS over real sockets
// with real clients (curl, openssl s_client, python3-websockets, node ws, OpenSSL through
// RawClient) on every backend: SNI, ALPN, versions, resumption, renegotiation refused, load
// errors named, hostile handshakes bounded, close_notify, certificate reload, large bodies.
#include "../../apps/echo/echo.hpp"
#include "support/app_process.hpp"
#include "support/backends.hpp"
#include "support/dev_certs.hpp"
#include "support/net_client.hpp"

#include <catch2/catch.hpp>

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <poll.h>

using namespace lithe;
using namespace lithe::test;

namespace {

namespace fs = std::filesystem;

const std::string clients = std::string(LITHE_SOURCE_DIR) + "/tests/integration/clients/";

// conformance_app, and /scheme answering env.url_scheme().
App scheme_app() {
  App inner = conformance_app();
  return [inner](Env& env) -> Response {
    if (env.path() == "/scheme") return {200, {}, std::string(env.url_scheme())};
    return inner(env);
  };
}

ServerOptions with_tls(TlsOptions tls) {
  ServerOptions o;
  o.tls = std::move(tls);
  return o;
}

TlsClientOptions verified() {
  return {.ca_file = dev_certs().ca};
}

// A request that makes the server end the session after answering.
const std::string closing_get = "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

// openssl s_client with `flags`, verifying against the dev CA, sending `input` and reading
// until the server closes (-ign_eof: the end of stdin does not end the session).
ProcessResult s_client(std::uint16_t port, std::vector<std::string> flags,
                       std::string_view input = closing_get) {
  std::vector<std::string> argv = {"openssl",
                                   "s_client",
                                   "-connect",
                                   "127.0.0.1:" + std::to_string(port),
                                   "-CAfile",
                                   dev_certs().ca,
                                   "-verify_return_error",
                                   "-ign_eof"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  return run_process(argv, 15s, input);
}

bool has(const std::string& text, std::string_view what) {
  return text.find(what) != std::string::npos;
}

void copy_over(const std::string& from, const std::string& to) {
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
}

void write_file(const std::string& path, std::string_view text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

// A copy of the a.test certificate in a directory of its own, to overwrite later.
TlsCertificate copied_certificate() {
  std::string dir = scratch_dir();
  copy_over(dev_certs().cert, dir + "/cert.pem");
  copy_over(dev_certs().key, dir + "/key.pem");
  return {dir + "/cert.pem", dir + "/key.pem"};
}

std::string sha256_hex(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &n, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned i = 0; i < n; ++i) {
    static const char digits[] = "0123456789abcdef";
    hex += digits[md[i] >> 4];
    hex += digits[md[i] & 15];
  }
  return hex;
}

// Whether a TLS client is answered: the server still serves after whatever came before.
bool answers(std::uint16_t port) {
  RawClient c(port, verified());
  if (!c.connected() || !c.send(get("/"))) return false;
  auto r = c.read_response();
  return r && r->status == 200 && r->body == "Hello, World!";
}

} // namespace

TEMPLATE_TEST_CASE("curl over HTTPS gets, echoes a 1 MiB POST and the app sees url_scheme https",
                   "[tls][curl]", LITHE_BACKENDS) {
  ServerOptions o = with_tls(dev_tls());
  o.http.max_body_bytes = 2 << 20; // a 1 MiB body whole in memory: over both defaults
  o.http.max_connection_memory = 4 << 20;
  TestServer s(TestType::name, scheme_app(), o);
  CHECK(s.url("/") == "https://127.0.0.1:" + std::to_string(s.port()) + "/");
  auto r = run_process(s.curl({s.url("/")}));
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "Hello, World!");
  std::string body = big_body(1 << 20);
  r = run_process(s.curl({"--data-binary", "@-", s.url("/echo")}), 20s, body);
  CHECK(r.exit_code == 0);
  CHECK(r.out.size() == body.size());
  CHECK((r.out == body)); // (not decomposed: a mismatch would print a megabyte)
  r = run_process(s.curl({s.url("/scheme")}));
  CHECK(r.out == "https");
  // Without the CA, curl refuses the certificate: it really is verified.
  r = run_process({"curl", "-sS", "--max-time", "10", s.url("/")});
  CHECK(r.exit_code == 60);
  CHECK(s.settles());
}

TEMPLATE_TEST_CASE("s_client: SNI picks the certificate for the name asked, an unknown name gets "
                   "the default",
                   "[tls][sni]", LITHE_BACKENDS) {
  TlsOptions t;
  t.certificates = {{dev_certs().cert, dev_certs().key},
                    {other_dev_certs().cert, other_dev_certs().key}};
  TestServer s(TestType::name, conformance_app(), with_tls(t));
  auto b = s_client(s.port(), {"-servername", "b.test"});
  INFO(b.out << b.err);
  CHECK(b.exit_code == 0);
  CHECK(has(b.out, "subject=CN = b.test"));
  CHECK(has(b.out, "Verify return code: 0 (ok)"));
  CHECK(has(b.out, "Hello, World!"));
  auto a = s_client(s.port(), {"-servername", "a.test"});
  CHECK(has(a.out, "subject=CN = a.test"));
  auto unknown = s_client(s.port(), {"-servername", "unknown.test"});
  CHECK(unknown.exit_code == 0);
  CHECK(has(unknown.out, "subject=CN = a.test"));
  CHECK(has(unknown.out, "Hello, World!"));
  auto none = s_client(s.port(), {"-noservername"});
  CHECK(has(none.out, "subject=CN = a.test"));
  // Our own client checks the names too: b.test's certificate verifies for b.test.
  RawClient c(s.port(), {.ca_file = dev_certs().ca, .server_name = "b.test"});
  REQUIRE(c.connected());
  CHECK(c.peer_name() == "b.test");
  CHECK(s.settles());
}

TEMPLATE_TEST_CASE("s_client: ALPN negotiates http/1.1 and a client offering only h2 is refused",
                   "[tls][alpn]", LITHE_BACKENDS) {
  TestServer s(TestType::name, conformance_app(), with_tls(dev_tls()));
  auto ok = s_client(s.port(), {"-alpn", "h2,http/1.1"});
  INFO(ok.out << ok.err);
  CHECK(ok.exit_code == 0);
  CHECK(has(ok.out, "ALPN protocol: http/1.1"));
  CHECK(has(ok.out, "Hello, World!"));
  auto h2 = s_client(s.port(), {"-alpn", "h2"});
  INFO(h2.out << h2.err);
  CHECK(h2.exit_code != 0);
  CHECK(has(h2.err, "no application protocol"));
  CHECK_FALSE(has(h2.out, "Hello, World!"));
  auto none = s_client(s.port(), {}); // no ALPN at all is fine
  CHECK(has(none.out, "No ALPN negotiated"));
  CHECK(has(none.out, "Hello, World!"));
  CHECK(answers(s.port()));
  CHECK(s.settles());
}

// curl --http1.0 over https offers ALPN "http/1.0" alone; an HTTP/1.1 server serves HTTP/1.0
// (RFC 9110 §2.5), so the handshake should succeed (RFC 7301 §3.2 refuses only protocols the
// server does not speak).
TEMPLATE_TEST_CASE("A client offering ALPN http/1.0 alone is served (curl --http1.0)",
                   "[tls][alpn]", LITHE_BACKENDS) {
  TestServer s(TestType::name, conformance_app(), with_tls(dev_tls()));
  auto r = s_client(s.port(), {"-alpn", "http/1.0"}, "GET / HTTP/1.0\r\n\r\n");
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(has(r.out, "Hello, World!"));
  auto curl = run_process(s.curl({"--http1.0", s.url("/")}));
  INFO(curl.err);
  CHECK(curl.out == "Hello, World!");
  CHECK(s.settles());
}

TEMPLATE_TEST_CASE("s_client: TLS 1.2 and TLS 1.3 each complete a handshake and a request",
                   "[tls][version]", LITHE_BACKENDS) {
  TestServer s(TestType::name, conformance_app(), with_tls(dev_tls()));
  for (const char* version : {"-tls1_2", "-tls1_3"}) {
    auto r = s_client(s.port(), {version});
    INFO(version << "\n" << r.out << r.err);
    CHECK(r.exit_code == 0);
    CHECK(has(r.out, std::string_view(version) == "-tls1_2" ? "New, TLSv1.2" : "New, TLSv1.3"));
    CHECK(has(r.out, "Hello, World!"));
  }
  // --tls-min 1.3: a TLS 1.2 client is refused.
  TlsOptions t = dev_tls();
  t.min_version = "1.3";
  TestServer only13(TestType::name, conformance_app(), with_tls(t));
  auto old = s_client(only13.port(), {"-tls1_2"});
  CHECK(old.exit_code != 0);
  CHECK_FALSE(has(old.out, "Hello, World!"));
  CHECK(has(s_client(only13.port(), {"-tls1_3"}).out, "Hello, World!"));
  CHECK(s.settles());
  CHECK(only13.settles());
}

TEMPLATE_TEST_CASE("s_client: a session saved with -sess_out is resumed with -sess_in on TLS 1.2 "
                   "and 1.3",
                   "[tls][resumption]", LITHE_BACKENDS) {
  TestServer s(TestType::name, conformance_app(), with_tls(dev_tls()));
  std::string dir = scratch_dir();
  for (std::string version : {"-tls1_2", "-tls1_3"}) {
    std::string session = dir + "/session" + version;
    // TLS 1.3 sends its ticket after the handshake: the request and its answer make sure the
    // client read it before quitting.
    auto first = s_client(s.port(), {version, "-sess_out", session});
    INFO(version << "\n" << first.out << first.err);
    CHECK(first.exit_code == 0);
    CHECK(has(first.out, "New, TLSv1."));
    CHECK(has(first.out, "Hello, World!"));
    auto again = s_client(s.port(), {version, "-sess_in", session});
    INFO(again.out << again.err);
    CHECK(again.exit_code == 0);
    CHECK(has(again.out, "Reused, TLSv1."));
    CHECK(has(again.out, "Hello, World!"));
  }
  CHECK(s.settles());
}

TEMPLATE_TEST_CASE("A client that can only verify RSA gets the RSA certificate when both are "
                   "configured",
                   "[tls][rsa]", LITHE_BACKENDS) {
  TlsOptions t;
  t.certificates = {{dev_certs().cert, dev_certs().key},
                    {dev_certs().rsa_cert, dev_certs().rsa_key}};
  TestServer s(TestType::name, conformance_app(), with_tls(t));
  auto ecdsa = s_client(s.port(), {});
  INFO(ecdsa.out << ecdsa.err);
  CHECK(has(ecdsa.out, "Server public key is 256 bit"));
  CHECK(has(ecdsa.out, "Hello, World!"));
  for (std::vector<std::string> rsa_only :
       {std::vector<std::string>{"-tls1_2", "-sigalgs", "RSA-PSS+SHA256"},
        std::vector<std::string>{"-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"},
        std::vector<std::string>{"-tls1_3", "-sigalgs", "RSA-PSS+SHA256"}}) {
    auto rsa = s_client(s.port(), rsa_only);
    INFO(rsa_only[1] << " " << rsa_only[2] << "\n" << rsa.out << rsa.err);
    CHECK(rsa.exit_code == 0);
    CHECK(has(rsa.out, "Server public key is 2048 bit"));
    CHECK(has(rsa.out, "Hello, World!"));
  }
  CHECK(s.settles());
}

TEMPLATE_TEST_CASE("A TLS 1.2 renegotiation is refused and the server goes on answering others",
                   "[tls][renegotiation][hostile]", LITHE_BACKENDS) {
  TestServer s(TestType::name, conformance_app(), with_tls(dev_tls()));
  RawClient c(s.port(), {.ca_file = dev_certs().ca, .max_version = TLS1_2_VERSION});
  REQUIRE(c.connected());
  REQUIRE(c.tls_version() == "TLSv1.2");
  REQUIRE(c.send(get("/")));
  REQUIRE(c.read_response());
  REQUIRE(SSL_renegotiate(c.ssl()) == 1);
  // Drive the new handshake (bounded): it must not complete.
  auto until = std::chrono::steady_clock::now() + 5s;
  int done = 0;
  for (;;) {
    done = SSL_do_handshake(c.ssl());
    int e = SSL_get_error(c.ssl(), done);
    if (done == 1 || (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)) break;
    pollfd p{c.fd(), static_cast<short>(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
  }
  CHECK(done != 1);
  CHECK(SSL_renegotiate_pending(c.ssl()) == 1); // asked, never granted
  CHECK(answers(s.port()));
  CHECK(s.settles());
}

TEMPLATE_TEST_CASE("Server::start names the file when a certificate or key is missing, does not "
                   "match or is not PEM",
                   "[tls][errors]", LITHE_BACKENDS) {
  std::string dir = scratch_dir();
  std::string not_pem = dir + "/not.pem";
  write_file(not_pem, "this is not a certificate\n");
  struct Case {
    std::string what, cert, key, named;
  };
  const DevCerts& a = dev_certs();
  for (const Case& c :
       {Case{"a missing certificate", dir + "/missing-cert.pem", a.key, dir + "/missing-cert.pem"},
        Case{"a missing key", a.cert, dir + "/missing-key.pem", dir + "/missing-key.pem"},
        Case{"a key of another certificate", a.cert, other_dev_certs().key, other_dev_certs().key},
        Case{"a certificate that is not PEM", not_pem, a.key, not_pem},
        Case{"a key that is not PEM", a.cert, not_pem, not_pem}}) {
    INFO(c.what);
    ServerOptions o;
    o.backend = TestType::name;
    o.listen.host = "127.0.0.1";
    o.listen.port = 0;
    o.tls.certificates = {{c.cert, c.key}};
    Server server(conformance_app(), o);
    std::error_code ec = server.start();
    INFO(server.error_message());
    CHECK(ec);
    CHECK(has(server.error_message(), c.named));
  }
}

TEMPLATE_TEST_CASE("An app exits 1 and says which file when its certificate cannot be loaded",
                   "[tls][errors][app]", LITHE_BACKENDS) {
  std::string missing = scratch_dir() + "/missing.pem";
  auto r = run_process({app_path("hello"), "--backend", TestType::name, "--port", "0", "--tls-cert",
                        missing, "--tls-key", dev_certs().key});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  CHECK(has(r.err, missing));
  r = run_process({app_path("hello"), "--backend", TestType::name, "--port", "0", "--tls-cert",
                   dev_certs().cert, "--tls-key", other_dev_certs().key});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  CHECK(has(r.err, other_dev_certs().key));
}

TEMPLATE_TEST_CASE("A plain HTTP request on the TLS port is answered 400 with a hint to use https",
                   "[tls][hostile]", LITHE_BACKENDS) {
  TestServer s(TestType::name, conformance_app(), with_tls(dev_tls()));
  RawClient plain(s.port());
  REQUIRE(plain.send(get("/")));
  auto r = plain.read_response();
  REQUIRE(r);
  CHECK(r->status == 400);
  CHECK(r->body == "This port speaks HTTPS: use an https:// URL");
  CHECK(r->header("Connection") == "close");
  CHECK(plain.closed_by_peer(3s));
  auto curl = run_process({"curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w",
                           "%{http_code}", "http://127.0.0.1:" + std::to_string(s.port()) + "/"});
  CHECK(curl.out == "400");
  CHECK(answers(s.port()));
  CHECK(s.settles());
}

TEMPLATE_TEST_CASE("Garbage instead of a ClientHello closes the connection at once",
                   "[tls][hostile]", LITHE_BACKENDS) {
  TestServer s(TestType::name, conformance_app(), with_tls(dev_tls()));
  const std::string garbage[] = {
      std::string("\x00\x01\x02\x03\xff\xfe\xfd\x80garbage\r\n\r\n", 20), // not a record at all
      std::string("\x16\x03\x01\x00\x08notahello", 14), // a handshake record of nonsense
      std::string("\x17\x03\x03\x00\x05hello", 10),     // application data before a handshake
  };
  for (const std::string& g : garbage) {
    RawClient c(s.port());
    REQUIRE(c.send(g));
    auto start = std::chrono::steady_clock::now();
    CHECK(c.closed_by_peer(3s));
    CHECK(std::chrono::steady_clock::now() - start < 2s); // not the handshake timeout (10 s)
  }
  CHECK(answers(s.port()));
  CHECK(s.settles());
}

TEMPLATE_TEST_CASE("A silent connection and a slow ClientHello are closed at the handshake "
                   "timeout",
                   "[tls][hostile][timeouts]", LITHE_BACKENDS) {
  TlsOptions t = dev_tls();
  t.handshake_timeout = 400ms;
  TestServer s(TestType::name, conformance_app(), with_tls(t));
  {
    RawClient silent(s.port());
    auto start = std::chrono::steady_clock::now();
    CHECK(silent.closed_by_peer(5s));
    CHECK(std::chrono::steady_clock::now() - start >= 300ms);
  }
  {
    RawClient slow(s.port()); // the first bytes of a ClientHello record, then nothing
    REQUIRE(slow.send(std::string("\x16\x03\x01\x00\xc8\x01\x00", 7)));
    auto start = std::chrono::steady_clock::now();
    CHECK(slow.closed_by_peer(5s));
    CHECK(std::chrono::steady_clock::now() - start >= 300ms);
  }
  CHECK(answers(s.port())); // a normal handshake is well within the timeout
  CHECK(s.settles());
}

TEMPLATE_TEST_CASE("An app's --tls-handshake-timeout closes a silent connection",
                   "[tls][hostile][timeouts][app]", LITHE_BACKENDS) {
  AppProcess app("hello", TestType::name,
                 {"--tls-cert", dev_certs().cert, "--tls-key", dev_certs().key,
                  "--tls-handshake-timeout", "300ms"});
  CHECK(has(app.out(), "listening on https://127.0.0.1:"));
  RawClient silent(app.port());
  auto start = std::chrono::steady_clock::now();
  CHECK(silent.closed_by_peer(5s));
  CHECK(std::chrono::steady_clock::now() - start >= 200ms);
  CHECK(answers(app.port()));
  CHECK(app.stop() == 0);
}

TEMPLATE_TEST_CASE("A Connection: close answer ends with close_notify, a clean TLS close",
                   "[tls][close]", LITHE_BACKENDS) {
  TestServer s(TestType::name, conformance_app(), with_tls(dev_tls()));
  for (std::string path : {"/", "/stream/3", "/file/300000"}) {
    INFO(path);
    RawClient c(s.port(), verified());
    REQUIRE(c.send(get(path, "Connection: close\r\n")));
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(c.closed_by_peer(3s));
    CHECK(c.clean_close());
  }
  {
    RawClient c(s.port(), verified()); // the client ends first: the server ends cleanly too
    REQUIRE(c.send(get("/")));
    REQUIRE(c.read_response());
    c.shutdown_write();
    CHECK(c.closed_by_peer(3s));
  }
  // python's ssl module raises SSLEOFError on a close without close_notify.
  std::string script =
      "import socket, ssl\n"
      "ctx = ssl.create_default_context(cafile='" +
      dev_certs().ca +
      "')\n"
      "s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', " +
      std::to_string(s.port()) +
      ")), server_hostname='localhost')\n"
      "s.sendall(b'GET / HTTP/1.1\\r\\nHost: t\\r\\nConnection: close\\r\\n\\r\\n')\n"
      "data = b''\n"
      "while True:\n"
      "    chunk = s.recv(65536)\n"
      "    if not chunk: break\n"
      "    data += chunk\n"
      "print('clean', data.endswith(b'Hello, World!'))\n";
  auto py = run_process({"/usr/bin/python3", "-c", script});
  INFO(py.err);
  CHECK(py.exit_code == 0);
  CHECK(py.out == "clean True\n");
  CHECK(s.settles());
}

TEMPLATE_TEST_CASE("reload_tls: new handshakes get the new certificate, an open connection keeps "
                   "its session, and a broken file is named while the last good one stays",
                   "[tls][reload]", LITHE_BACKENDS) {
  TlsCertificate files = copied_certificate();
  TlsOptions t;
  t.certificates = {files};
  TestServer s(TestType::name, conformance_app(), with_tls(t));
  REQUIRE(s.server().tls());
  CHECK(s.server().tls()->generation() == 1);
  RawClient old(s.port(), verified());
  REQUIRE(old.connected());
  CHECK(old.peer_name() == "a.test");
  REQUIRE(old.send(get("/")));
  REQUIRE(old.read_response());

  copy_over(other_dev_certs().cert, files.cert_file);
  copy_over(other_dev_certs().key, files.key_file);
  CHECK(s.server().reload_tls() == "");
  CHECK(s.server().tls()->generation() == 2);
  RawClient fresh(s.port(), verified());
  REQUIRE(fresh.connected());
  CHECK(fresh.peer_name() == "b.test");
  REQUIRE(old.send(get("/path?still")));
  auto r = old.read_response();
  REQUIRE(r);
  CHECK(r->body == "/path?still");
  CHECK(old.peer_name() == "a.test");

  write_file(files.cert_file, "broken\n");
  std::string error = s.server().reload_tls();
  CHECK(has(error, files.cert_file));
  CHECK(s.server().tls()->generation() == 2);
  RawClient after(s.port(), verified());
  REQUIRE(after.connected());
  CHECK(after.peer_name() == "b.test");
  REQUIRE(after.send(get("/")));
  CHECK(after.read_response());
}

TEMPLATE_TEST_CASE("SIGHUP makes an app reload its certificates", "[tls][reload][app]",
                   LITHE_BACKENDS) {
  TlsCertificate files = copied_certificate();
  AppProcess app("hello", TestType::name,
                 {"--tls-cert", files.cert_file, "--tls-key", files.key_file});
  {
    RawClient c(app.port(), verified());
    REQUIRE(c.connected());
    CHECK(c.peer_name() == "a.test");
  }
  copy_over(other_dev_certs().cert, files.cert_file);
  copy_over(other_dev_certs().key, files.key_file);
  REQUIRE(::kill(app.pid(), SIGHUP) == 0);
  CHECK(app.err_contains("reloaded its TLS certificates"));
  RawClient c(app.port(), verified());
  REQUIRE(c.connected());
  CHECK(c.peer_name() == "b.test");
  REQUIRE(c.send(get("/")));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->body == "Hello, World!");
  CHECK(app.stop() == 0);
}

TEMPLATE_TEST_CASE("A 20 MB file read slowly over TLS arrives byte-exact", "[tls][large]",
                   LITHE_BACKENDS) {
  TestServer s(TestType::name, conformance_app(), with_tls(dev_tls()));
  const std::size_t n = 20'000'000;
  // curl reads at 10 MB/s, far slower than the server writes: its writes stall many times.
  auto r = run_process(s.curl({"--max-time", "30", "--limit-rate", "10M", s.url("/file/20000000")}),
                       40s);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  REQUIRE(r.out.size() == n);
  CHECK((r.out == big_body(n)));
  CHECK(s.settles());
}

TEMPLATE_TEST_CASE("A 4 MiB upload to lithe-upload's POST /sha256 over TLS is hashed whole",
                   "[tls][large][app]", LITHE_BACKENDS) {
  AppProcess app("upload", TestType::name,
                 {"--tls-cert", dev_certs().cert, "--tls-key", dev_certs().key});
  std::string body = big_body(4 << 20);
  auto r =
      run_process({"curl", "-sS", "--max-time", "20", "--cacert", dev_certs().ca, "--data-binary",
                   "@-", "https://127.0.0.1:" + std::to_string(app.port()) + "/sha256"},
                  30s, body);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.substr(0, 64) == sha256_hex(body));
  CHECK(app.stop() == 0);
}

TEMPLATE_TEST_CASE("WSS: python3-websockets echoes text, binary and 200 KB, then closes cleanly",
                   "[tls][ws][client]", LITHE_BACKENDS) {
  TestServer s(TestType::name, echo::app(), with_tls(dev_tls()));
  auto r = run_process({"/usr/bin/python3", clients + "ws_client.py",
                        "wss://127.0.0.1:" + std::to_string(s.port()) + "/any/path", "echo",
                        dev_certs().ca});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "text hello\nbinary 0001ff\nbig 200000\npong ok\nfragmented fragmented ü\n"
                 "closed 1000 \n");
  CHECK(s.settles());
}

TEMPLATE_TEST_CASE("WSS: node ws echoes text, binary and 200 KB, then closes cleanly",
                   "[tls][ws][client]", LITHE_BACKENDS) {
  TestServer s(TestType::name, echo::app(), with_tls(dev_tls()));
  auto r =
      run_process({"node", clients + "ws_node_client.js",
                   "wss://127.0.0.1:" + std::to_string(s.port()) + "/", "--ca", dev_certs().ca},
                  20s, "", {"NODE_PATH=/usr/share/nodejs"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(has(r.out, "text from node\n"));
  CHECK(has(r.out, "binary 010203fa\n"));
  CHECK(has(r.out, "big 200000 true\n"));
  CHECK(has(r.out, "pong np\n"));
  CHECK(has(r.out, "closed 4001"));
  CHECK(s.settles());
}
