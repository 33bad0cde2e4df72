// The backend conformance suite, part 1: HTTP/1.1 over real sockets (RFC 9112), run once
// per backend (LITHE_BACKENDS_AND_TLS). Raw sockets for byte-exact cases, curl for a real client.
#include "support/backends.hpp"
#include "support/net_client.hpp"

#include <catch2/catch.hpp>

#include <random>
#include <regex>
#include <thread>

using namespace lithe;
using namespace lithe::test;

namespace {
HttpOptions quick_timeouts() {
  HttpOptions o;
  o.header_timeout = 300ms;
  o.body_timeout = 300ms;
  o.idle_timeout = 300ms;
  return o;
}
} // namespace

TEMPLATE_TEST_CASE("GET / answers Hello, World! with Content-Length, Date and Server", "[http]",
                   LITHE_BACKENDS_AND_TLS) {
  TestServer s(TestType{}, conformance_app());
  RawClient c(s);
  REQUIRE(c.send(get("/")));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->version == "HTTP/1.1");
  CHECK(r->body == "Hello, World!");
  CHECK(r->header("Content-Length") == "13");
  CHECK(r->header("Content-Type") == "text/plain");
  CHECK(r->header("Server") == "lithe");
  REQUIRE(r->header("Date"));
  CHECK(std::regex_match(
      *r->header("Date"),
      std::regex(R"([A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT)")));
  CHECK_FALSE(r->header("Connection")); // keep-alive is HTTP/1.1's default
}

TEMPLATE_TEST_CASE("Keep-alive serves many requests on one connection", "[http]",
                   LITHE_BACKENDS_AND_TLS) {
  TestServer s(TestType{}, conformance_app());
  RawClient c(s);
  for (int i = 0; i < 5; ++i) {
    REQUIRE(c.send(get("/path?i=" + std::to_string(i))));
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->body == "/path?i=" + std::to_string(i));
  }
  CHECK(s.stats().requests == 5);
}

TEMPLATE_TEST_CASE("HTTP/1.0 closes unless asked to keep alive", "[http]", LITHE_BACKENDS_AND_TLS) {
  TestServer s(TestType{}, conformance_app());
  {
    RawClient c(s);
    REQUIRE(c.send("GET / HTTP/1.0\r\n\r\n")); // no Host needed in 1.0
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->header("Connection") == "close");
    CHECK(c.closed_by_peer());
  }
  {
    RawClient c(s);
    REQUIRE(c.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->header("Connection") == "keep-alive");
    REQUIRE(c.send("GET /path HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    auto r2 = c.read_response();
    REQUIRE(r2);
    CHECK(r2->body == "/path");
  }
}

TEMPLATE_TEST_CASE("Connection: close from the client is honoured", "[http]",
                   LITHE_BACKENDS_AND_TLS) {
  TestServer s(TestType{}, conformance_app());
  RawClient c(s);
  REQUIRE(c.send(get("/", "Connection: close\r\n")));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->header("Connection") == "close");
  CHECK(c.closed_by_peer());
}

TEMPLATE_TEST_CASE("Pipelined requests are answered in order", "[http]", LITHE_BACKENDS_AND_TLS) {
  TestServer s(TestType{}, conformance_app());
  RawClient c(s);
  std::string burst;
  for (int i = 0; i < 32; ++i)
    burst += get("/path?n=" + std::to_string(i));
  REQUIRE(c.send(burst));
  for (int i = 0; i < 32; ++i) {
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->body == "/path?n=" + std::to_string(i));
  }
}

TEMPLATE_TEST_CASE("Pipelining behind an async answer keeps the order", "[http][async]",
                   LITHE_BACKENDS_AND_TLS) {
  TestServer s(TestType{}, conformance_app());
  RawClient c(s);
  REQUIRE(c.send(get("/delay/50") + get("/path?after") + get("/delay/10") + get("/path?last")));
  auto a = c.read_response(), b = c.read_response(), d = c.read_response(), e = c.read_response();
  REQUIRE((a && b && d && e));
  CHECK(a->body == "waited 50 ms\n");
  CHECK(b->body == "/path?after");
  CHECK(d->body == "waited 10 ms\n");
  CHECK(e->body == "/path?last");
}

TEMPLATE_TEST_CASE("A request arriving one byte at a time is parsed whole", "[http]",
                   LITHE_BACKENDS_AND_TLS) {
  TestServer s(TestType{}, conformance_app());
  RawClient c(s);
  std::string req = "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Type: text/x-test\r\n"
                    "X-Long-Header: " +
                    std::string(300, 'v') + "\r\nContent-Length: 11\r\n\r\nhello world";
  req += get("/path?second");
  REQUIRE(c.send_in_pieces(req, 1));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "hello world");
  CHECK(r->header("Content-Type") == "text/x-test");
  auto r2 = c.read_response();
  REQUIRE(r2);
  CHECK(r2->body == "/path?second");
}

TEMPLATE_TEST_CASE("A chunked request body arrives whole, extensions and trailers ignored",
                   "[http]", LITHE_BACKENDS_AND_TLS) {
  TestServer s(TestType{}, conformance_app());
  RawClient c(s);
  REQUIRE(c.send("POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n"));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "hello world");
  // Split at every byte too.
  RawClient d(s);
  REQUIRE(d.send_in_pieces("POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
                           1));
  auto r2 = d.read_response();
  REQUIRE(r2);
  CHECK(r2->body == "abcde");
}

TEMPLATE_TEST_CASE("A deferrable body without a length goes out chunked", "[http][async]",
                   LITHE_BACKENDS_AND_TLS) {
  TestServer s(TestType{}, conformance_app());
  RawClient c(s);
  REQUIRE(c.send(get("/stream/3") + get("/path?after")));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->chunked);
  CHECK(r->body == "chunk 3\nchunk 2\nchunk 1\n");
  auto r2 = c.read_response();
  REQUIRE(r2);
  CHECK(r2->body == "/path?after"); // the chunked body ended cleanly: keep-alive survived
}

TEMPLATE_TEST_CASE("An HTTP/1.0 client gets a streamed body delimited by close", "[http][async]",
                   LITHE_BACKENDS_AND_TLS) {
  TestServer s(TestType{}, conformance_app());
  RawClient c(s);
  REQUIRE(c.send("GET /stream/2 HTTP/1.0\r\n\r\n"));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK_FALSE(r->chunked);
  CHECK(r->header("Connection") == "close");
  CHECK(r->body == "chunk 2\nchunk 1\n");
}

TEMPLATE_TEST_CASE("Expect: 100-continue gets 100 before the body is sent", "[http]",
                   LITHE_BACKENDS_AND_TLS) {
  TestServer s(TestType{}, conformance_app());
  RawClient c(s);
  REQUIRE(c.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 4\r\n"
                 "Expect: 100-continue\r\n\r\n"));
  auto interim = c.read_response();
  REQUIRE(interim);
  CHECK(interim->status == 100);
  REQUIRE(c.send("data"));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "data");
}

TEMPLATE_TEST_CASE("An expectation other than 100-continue is 417", "[http][limits]",
                   LITHE_BACKENDS_AND_TLS) {
  TestServer s(TestType{}, conformance_app());
  RawClient c(s);
  REQUIRE(c.send(get("/", "Expect: teapot\r\n")));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 417);
  CHECK(c.closed_by_peer());
}

TEMPLATE_TEST_CASE("HEAD drops the body but keeps Content-Length", "[http]",
                   LITHE_BACKENDS_AND_TLS) {
  TestServer s(TestType{}, conformance_app());
  RawClient c(s);
  REQUIRE(c.send("HEAD / HTTP/1.1\r\nHost: test\r\n\r\n"));
  auto r = c.read_response(5s, true);
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("Content-Length") == "13");
  // Had a body been sent, it would be read as the next response's start.
  REQUIRE(c.send(get("/path?next")));
  auto r2 = c.read_response();
  REQUIRE(r2);
  CHECK(r2->status == 200);
  CHECK(r2->body == "/path?next");
  REQUIRE(c.send("HEAD /stream/2 HTTP/1.1\r\nHost: test\r\n\r\n" + get("/path?after")));
  auto h = c.read_response(5s, true);
  REQUIRE(h);
  CHECK_FALSE(h->header("Transfer-Encoding"));
  auto r3 = c.read_response();
  REQUIRE(r3);
  CHECK(r3->body == "/path?after");
}

TEMPLATE_TEST_CASE("The env names the request as Rack does", "[http]", LITHE_BACKENDS_AND_TLS) {
  TestServer s(TestType{}, conformance_app());
  RawClient c(s);
  REQUIRE(c.send("GET /env?a=1 HTTP/1.1\r\nHost: example.org:1234\r\nX-Test: yes\r\n\r\n"));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->body == "REQUEST_METHOD=GET\nSCRIPT_NAME=\nPATH_INFO=/env\nQUERY_STRING=a=1\n"
                   "SERVER_NAME=example.org\nSERVER_PORT=1234\nSERVER_PROTOCOL=HTTP/1.1\n"
                   "REMOTE_ADDR=127.0.0.1\nHTTP_X_TEST=yes\nlithe.url_scheme=" +
                       std::string(TestType::tls ? "https" : "http") + "\n");
}

TEMPLATE_TEST_CASE("Every request passes Lint on the way in and out", "[http]",
                   LITHE_BACKENDS_AND_TLS) {
  HttpOptions o;
  o.lint = true;
  TestServer s(TestType{}, conformance_app(), o);
  std::size_t before = lint_violation_count();
  RawClient c(s);
  REQUIRE(c.send(get("/") + get("/env?x") +
                 "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi" +
                 get("/stream/2") + get("/delay/5") + "GET /path HTTP/1.0\r\n\r\n"));
  for (int i = 0; i < 6; ++i)
    REQUIRE(c.read_response());
  CHECK(lint_violation_count() == before);
}

// ---- Limits: each answer is the right status, then the connection closes.

namespace {
void expect_refused(const TestServer& s, const std::string& request, int status) {
  RawClient c(s);
  c.send(request);
  auto r = c.read_response();
  INFO("request: " << request.substr(0, 120));
  REQUIRE(r);
  CHECK(r->status == status);
  CHECK(r->header("Connection") == "close");
  CHECK(c.closed_by_peer());
}
} // namespace

TEMPLATE_TEST_CASE("Oversized heads are 431, long targets 414, large bodies 413", "[http][limits]",
                   LITHE_BACKENDS_AND_TLS) {
  HttpOptions o;
  o.max_header_bytes = 2048;
  o.max_uri_bytes = 512;
  o.max_body_bytes = 1000;
  o.max_headers = 20;
  TestServer s(TestType{}, conformance_app(), o);
  expect_refused(s, get("/", "X-Big: " + std::string(3000, 'a') + "\r\n"), 431);
  std::string many;
  for (int i = 0; i < 25; ++i)
    many += "X-H" + std::to_string(i) + ": v\r\n";
  expect_refused(s, get("/", many), 431);
  expect_refused(s, get("/" + std::string(600, 'p')), 414);
  expect_refused(s, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n", 413);
  std::string chunked = "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 20; ++i)
    chunked += "64\r\n" + std::string(100, 'c') + "\r\n";
  expect_refused(s, chunked, 413);
  // A body under the limit still passes.
  RawClient ok(s);
  ok.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n" +
          std::string(1000, 'b'));
  auto r = ok.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEMPLATE_TEST_CASE("Malformed requests are 400 and close the connection", "[http][limits]",
                   LITHE_BACKENDS_AND_TLS) {
  TestServer s(TestType{}, conformance_app());
  expect_refused(s, "GARBAGE\r\n\r\n", 400);
  expect_refused(s, "GET / HTTP/1.1\r\n\r\n", 400); // no Host
  expect_refused(s, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
  expect_refused(s, "GET / HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n", 400);
  expect_refused(s, "GET / HTTP/1.1\r\nHost: t\r\nX-Ctl: a\x01z\r\n\r\n", 400);
  expect_refused(s, "GET /\x7f HTTP/1.1\r\nHost: t\r\n\r\n", 400);
  expect_refused(s, "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n", 400);
}

TEMPLATE_TEST_CASE("Seeded random damage to requests never crashes the server: a valid answer "
                   "or a close",
                   "[http][fuzz]", LITHE_BACKENDS_AND_TLS) {
  TestServer s(TestType{}, conformance_app(), quick_timeouts());
  const std::string seeds[] = {
      "GET / HTTP/1.1\r\nHost: t\r\n\r\n",
      "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
      "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;x=y\r\nhello\r\n0\r\nTrailer: z\r\n\r\n",
      "GET /delay/1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
      "GET /big/100 HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n\r\n", // (no HEAD: the
      // reader here could not tell its response has no body)
  };
  const char specials[] = {'\r', '\n', '\0', ' ', ':', '\t', '\x7f', '\xff', ';', '0'};
  std::mt19937 rng(20261124);
  const std::regex status_line(R"(HTTP/1\.[01] (\d{3}) [^\r\n]*\r\n)");
  for (int round = 0; round < 120; ++round) {
    std::string req = seeds[rng() % std::size(seeds)];
    if (round % 2) req += seeds[rng() % std::size(seeds)]; // pipelined behind another
    for (int k = 1 + static_cast<int>(rng() % 4); k > 0; --k) {
      std::size_t at = rng() % req.size();
      switch (rng() % 4) {
      case 0:
        req[at] = specials[rng() % std::size(specials)];
        break; // overwrite
      case 1:
        req.insert(at, 1, specials[rng() % std::size(specials)]);
        break; // insert
      case 2:
        req.erase(at, 1 + rng() % 8);
        break; // delete
      default:
        req[at] = static_cast<char>(rng() & 0xFF);
        break; // any byte
      }
      if (req.empty()) req = "\r\n";
    }
    RawClient c(s);
    c.send(req);
    c.shutdown_write(); // a cut request ends at EOF rather than at the request timeout
    // Whatever comes back is whole responses with real status lines, then the close.
    for (int i = 0; i < 4; ++i) {
      auto r = c.read_response(2s);
      if (!r) break;
      INFO("request: " << req);
      CHECK(((r->status >= 100 && r->status < 600)));
      CHECK((r->version == "HTTP/1.1" || r->version == "HTTP/1.0"));
    }
    INFO("round " << round);
    CHECK(c.closed_by_peer(2s));
  }
  RawClient after(s); // still serving
  after.send(get("/"));
  auto r = after.read_response();
  REQUIRE(r);
  CHECK(r->body == "Hello, World!");
  CHECK(s.settles(5s));
}

TEMPLATE_TEST_CASE("Request smuggling shapes are refused with 400", "[http][limits]",
                   LITHE_BACKENDS_AND_TLS) {
  TestServer s(TestType{}, conformance_app());
  // Content-Length with Transfer-Encoding.
  expect_refused(s,
                 "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                 400);
  // Two different Content-Lengths, in two fields or one.
  expect_refused(
      s, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
      400);
  expect_refused(s, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4, 5\r\n\r\nabcde", 400);
  // Transfer-Encoding in HTTP/1.0, and a coding that is not chunked.
  expect_refused(s, "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
  expect_refused(
      s, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
      501);
  // Obsolete line folding and a space before the colon.
  expect_refused(s, "GET / HTTP/1.1\r\nHost: t\r\nX-Fold: a\r\n b\r\n\r\n", 400);
  expect_refused(s, "GET / HTTP/1.1\r\nHost: t\r\nContent-Length : 0\r\n\r\n", 400);
}

TEMPLATE_TEST_CASE("Other HTTP versions are 505", "[http][limits]", LITHE_BACKENDS_AND_TLS) {
  TestServer s(TestType{}, conformance_app());
  expect_refused(s, "GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505);
}

TEMPLATE_TEST_CASE("A request that stalls gets 408 and a silent connection is closed",
                   "[http][timeouts]", LITHE_BACKENDS_AND_TLS) {
  TestServer s(TestType{}, conformance_app(), quick_timeouts());
  {
    RawClient c(s);
    REQUIRE(c.send("GET / HTTP/1.1\r\nHost: t\r\n")); // the head never ends
    auto r = c.read_response(3s);
    REQUIRE(r);
    CHECK(r->status == 408);
    CHECK(c.closed_by_peer(3s));
  }
  {
    RawClient c(s); // connects, says nothing
    CHECK(c.closed_by_peer(3s));
  }
  {
    RawClient c(s); // body promised, never sent
    REQUIRE(c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc"));
    auto r = c.read_response(3s);
    REQUIRE(r);
    CHECK(r->status == 408);
  }
}

TEMPLATE_TEST_CASE("An idle keep-alive connection is closed after the idle timeout",
                   "[http][timeouts]", LITHE_BACKENDS_AND_TLS) {
  TestServer s(TestType{}, conformance_app(), quick_timeouts());
  RawClient c(s);
  REQUIRE(c.send(get("/")));
  REQUIRE(c.read_response());
  CHECK(c.closed_by_peer(3s));
  auto deadline = std::chrono::steady_clock::now() + 3s;
  while (s.stats().connections != 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms); // the server frees the connection just after closing it
  CHECK(s.stats().connections == 0);
}

TEMPLATE_TEST_CASE("Keep-alive survives an async response", "[http][async]",
                   LITHE_BACKENDS_AND_TLS) {
  TestServer s(TestType{}, conformance_app());
  RawClient c(s);
  for (int i = 0; i < 3; ++i) {
    REQUIRE(c.send(get("/delay/20")));
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->body == "waited 20 ms\n");
  }
}

TEMPLATE_TEST_CASE("A client leaving mid-request or mid-response leaks nothing", "[http]",
                   LITHE_BACKENDS_AND_TLS) {
  TestServer s(TestType{}, conformance_app());
  {
    RawClient c(s);
    c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nhalf");
  }
  {
    RawClient c(s);
    c.send(get("/delay/5000")); // leaves while the app is still working
    REQUIRE(c.read_bytes(1, 50ms).empty());
  }
  {
    RawClient c(s);
    c.set_receive_buffer(4096);
    c.send(get("/big/" + std::to_string(32 << 20))); // leaves with most of 32 MiB unsent
    CHECK(c.read_bytes(1000).size() == 1000);
  }
  CHECK(s.settles());
  auto deadline = std::chrono::steady_clock::now() + 3s;
  while (s.stats().connections != 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  CHECK(s.stats().connections == 0);
}

TEMPLATE_TEST_CASE("A slow reader gets every byte of a large body, from memory or a file", "[http]",
                   LITHE_BACKENDS_AND_TLS) {
  TestServer s(TestType{}, conformance_app());
  RawClient c(s);
  const std::size_t n = 8 << 20;
  // /big comes from memory (writev), /file from a file (sendfile, then the backend's
  // background path when the socket is full).
  std::string path = GENERATE(as<std::string>{}, "/big/", "/file/");
  REQUIRE(c.send(get(path + std::to_string(n))));
  // A slow reader: it takes 16 KiB at a time with a pause, so the server's writes stall on
  // a full socket and must resume on writability, many times over.
  std::string got;
  while (got.size() < n + 200) {
    std::string piece = c.read_bytes(16384, 5s);
    if (piece.empty()) break;
    got += piece;
    std::this_thread::sleep_for(100us);
    if (got.find("\r\n\r\n") != std::string::npos && got.size() - got.find("\r\n\r\n") - 4 >= n)
      break;
  }
  REQUIRE(got.find("\r\n\r\n") != std::string::npos);
  std::string body = got.substr(got.find("\r\n\r\n") + 4);
  REQUIRE(body.size() == n);
  CHECK(body == big_body(n));
  REQUIRE(c.send(get("/path?after")));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->body == "/path?after");
}

TEMPLATE_TEST_CASE("Thousands of concurrent connections are each answered", "[http][scale]",
                   LITHE_BACKENDS_AND_TLS) {
  // The clients connect (and, over TLS, shake hands) one after another before any sends:
  // under a sanitizer that can take longer than the head timeout, which is not under test.
  HttpOptions o;
  o.header_timeout = std::chrono::minutes(2);
  TestServer s(TestType{}, conformance_app(), o);
  std::vector<std::unique_ptr<RawClient>> clients;
  const int n = 3000;
  for (int i = 0; i < n; ++i) {
    clients.push_back(std::make_unique<RawClient>(s));
    REQUIRE(clients.back()->connected());
  }
  for (int i = 0; i < n; ++i)
    REQUIRE(clients[i]->send(get("/path?c=" + std::to_string(i))));
  int ok = 0;
  for (int i = 0; i < n; ++i) {
    auto r = clients[i]->read_response();
    ok += r && r->body == "/path?c=" + std::to_string(i);
  }
  CHECK(ok == n);
  CHECK(s.stats().connections == n);
}

TEMPLATE_TEST_CASE("Graceful stop finishes requests in flight, then closes", "[http][stop]",
                   LITHE_BACKENDS_AND_TLS) {
  auto s = std::make_unique<TestServer>(TestType{}, conformance_app());
  RawClient busy(*s), idle(*s);
  REQUIRE(busy.send(get("/delay/300")));
  REQUIRE(idle.send(get("/")));
  REQUIRE(idle.read_response());
  REQUIRE(busy.read_bytes(1, 50ms).empty()); // the app is still working on it
  std::thread stopper([&s] { s->server().stop(); });
  auto r = busy.read_response();
  REQUIRE(r);
  CHECK(r->body == "waited 300 ms\n");
  CHECK(r->header("Connection") == "close");
  CHECK(busy.closed_by_peer());
  CHECK(idle.closed_by_peer());
  stopper.join();
  RawClient late(*s);
  CHECK_FALSE(late.connected()); // no longer listening
}

TEMPLATE_TEST_CASE("curl gets, posts chunked, sends Expect and speaks HTTP/1.0", "[http][curl]",
                   LITHE_BACKENDS_AND_TLS) {
  TestServer s(TestType{}, conformance_app());
  auto r = run_process(s.curl({s.url("/")}));
  CHECK(r.exit_code == 0);
  CHECK(r.out == "Hello, World!");
  std::string big(300000, 'z');
  r = run_process(s.curl({"-H", "Transfer-Encoding: chunked", "-H", "Content-Type: text/plain",
                          "--data-binary", "@-", s.url("/echo")}),
                  20s, big);
  CHECK(r.exit_code == 0);
  CHECK(r.out == big);
  r = run_process(s.curl({"-H", "Expect: 100-continue", "--data-binary", "@-", s.url("/echo")}),
                  20s, "expected");
  CHECK(r.out == "expected");
  r = run_process(s.curl({"--http1.0", "-i", s.url("/")}));
  CHECK(r.out.find("Connection: close") != std::string::npos);
  r = run_process(s.curl({"-I", s.url("/")}));
  CHECK(r.out.find("Content-Length: 13") != std::string::npos);
}

// Plain only: binding is the backend's, the same with or without TLS.
TEMPLATE_TEST_CASE("A port another server holds is refused, not silently shared", "[http][listen]",
                   LITHE_BACKENDS) {
  TestServer first(TestType{}, conformance_app());
  ServerOptions o;
  o.backend = TestType::name;
  o.listen.port = first.port();
  o.listen.threads = 2;
  Server second(conformance_app(), o);
  std::error_code ec = second.start();
  CHECK(ec == std::errc::address_in_use);
  // The first server is untouched.
  RawClient c(first.port());
  c.send(get("/"));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEMPLATE_TEST_CASE("Trailer fields never become request headers", "[http][hostile]",
                   LITHE_BACKENDS_AND_TLS) {
  TestServer s(TestType{}, conformance_app());
  RawClient c(s);
  REQUIRE(c.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                 "Content-Type: text/plain\r\n\r\n3\r\nabc\r\n0\r\n"
                 "Content-Type: text/evil\r\nX-Test: smuggled\r\n\r\n"));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "abc");
  CHECK(r->header("Content-Type") == "text/plain"); // the head's, not the trailer's
  REQUIRE(c.send(get("/env")));                     // and the connection goes on
  r = c.read_response();
  REQUIRE(r);
  CHECK(r->body.find("HTTP_X_TEST=\n") != std::string::npos);
  // Trailer fields are bounded like a head.
  expect_refused(s,
                 "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "1\r\nx\r\n0\r\nX-Big: " +
                     std::string(20000, 'a') + "\r\n\r\n",
                 431);
}

TEMPLATE_TEST_CASE("A line ending in a bare LF is refused with 400", "[http][hostile]",
                   LITHE_BACKENDS_AND_TLS) {
  TestServer s(TestType{}, conformance_app());
  expect_refused(s, "GET / HTTP/1.1\nHost: t\r\n\r\n", 400);
  expect_refused(s, "GET / HTTP/1.1\r\nHost: t\r\n\n", 400);
  expect_refused(s, "GET / HTTP/1.1\r\nHost: t\r\nX: y\r\n\n", 400);
  expect_refused(s,
                 "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "1\r\nx\r\n0\r\n\n",
                 400);
  RawClient c(s); // CRLF throughout is served
  REQUIRE(c.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "1\r\nx\r\n0\r\n\r\n"));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->body == "x");
}

TEMPLATE_TEST_CASE("A Host that is not a host name or address is refused with 400",
                   "[http][hostile]", LITHE_BACKENDS_AND_TLS) {
  TestServer s(TestType{}, conformance_app());
  for (const char* bad : {"a b", "a/b", "ex\"ample", "example.org:99999", "example.org:8x", "[::1",
                          "[zz]:80", ":80", "a@b", "%zz"}) {
    INFO("Host: " << bad);
    expect_refused(s, "GET / HTTP/1.1\r\nHost: " + std::string(bad) + "\r\n\r\n", 400);
  }
  for (const char* good : {"example.org", "example.org:8080", "127.0.0.1:80", "[::1]:8080", "[::1]",
                           "a-b.c_d~e", "%41bc", "example.org:"}) {
    INFO("Host: " << good);
    RawClient c(s);
    REQUIRE(c.send("GET / HTTP/1.1\r\nHost: " + std::string(good) + "\r\n\r\n"));
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  RawClient empty(s); // a target without authority sends an empty Host (RFC 9112 §3.2)
  REQUIRE(empty.send("GET / HTTP/1.1\r\nHost:\r\n\r\n"));
  auto r = empty.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
}

namespace {
bool connections_drop_to_zero(const TestServer& s, std::chrono::milliseconds within) {
  auto until = std::chrono::steady_clock::now() + within;
  while (s.stats().connections != 0) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(5ms); // polling the server's counter, bounded above
  }
  return true;
}
} // namespace

TEMPLATE_TEST_CASE("A client that never reads is closed by the send timeout, even when it begins "
                   "another request",
                   "[http][timeouts][hostile]", LITHE_BACKENDS_AND_TLS) {
  HttpOptions o;
  o.send_timeout = 400ms;
  o.header_timeout = 20s; // a second timer that must not replace the send timer
  o.idle_timeout = 20s;
  o.high_water = 16 << 20; // keep reading, so the half request is parsed and arms its timer
  o.max_connection_memory = 32 << 20;
  TestServer s(TestType{}, conformance_app(), o);
  RawClient c(s);
  c.set_receive_buffer(64 * 1024); // small enough that the server's output backs up
  REQUIRE(c.send(get("/big/12000000") + "GET / HTTP/1.1\r\nHo"));
  CHECK(connections_drop_to_zero(s, 5s)); // ~0.4 s; 20 s if the head timer took its place
}

TEMPLATE_TEST_CASE("A half-sent request keeps its head timeout while earlier output waits",
                   "[http][timeouts][hostile]", LITHE_BACKENDS_AND_TLS) {
  HttpOptions o;
  o.header_timeout = 300ms;
  o.send_timeout = 20s; // a second timer that must not replace the head timer
  o.idle_timeout = 20s;
  o.high_water = 16 << 20;
  o.max_connection_memory = 32 << 20;
  TestServer s(TestType{}, conformance_app(), o);
  RawClient c(s);
  c.set_receive_buffer(64 * 1024); // small enough that the server's output backs up
  REQUIRE(c.send(get("/big/12000000") + "GET / HTTP/1.1\r\nHo"));
  std::this_thread::sleep_for(800ms); // the stimulus: the head timeout passes, unread output waits
  auto big = c.read_response(10s);
  REQUIRE(big);
  CHECK(big->body.size() == 12000000);
  auto late = c.read_response(5s);
  REQUIRE(late);
  CHECK(late->status == 408);
  CHECK(c.closed_by_peer(5s));
}

TEMPLATE_TEST_CASE("A slow download is not cut by the idle timeout", "[http][timeouts]",
                   LITHE_BACKENDS_AND_TLS) {
  HttpOptions o;
  o.idle_timeout = 200ms; // far shorter than the download
  o.send_timeout = 5s;
  TestServer s(TestType{}, conformance_app(), o);
  RawClient c(s);
  c.set_receive_buffer(64 * 1024); // small enough that the server's output backs up
  REQUIRE(c.send(get("/file/16000000")));
  std::string got = c.read_bytes(1000, 5s);
  std::this_thread::sleep_for(600ms); // reads nothing for three idle timeouts
  got += c.read_bytes(16000000, 20s);
  CHECK(got.size() > 16000000); // head and the whole body
  CHECK(got.ends_with(big_body(16000000).substr(16000000 - 100)));
}

TEMPLATE_TEST_CASE("A target that is not a path or a URL is refused, and * is for OPTIONS only",
                   "[http][hostile]", LITHE_BACKENDS_AND_TLS) {
  TestServer s(TestType{}, conformance_app());
  expect_refused(s, "GET * HTTP/1.1\r\nHost: t\r\n\r\n", 400);
  expect_refused(s, "CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n", 501);
  RawClient options(s);
  REQUIRE(options.send("OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto r = options.read_response();
  REQUIRE(r);
  CHECK(r->status == 404); // reaches the app, which has no answer for it
  RawClient absolute(s);
  REQUIRE(absolute.send("GET http://example.org/path?q=1 HTTP/1.1\r\nHost: example.org\r\n\r\n"));
  r = absolute.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "http://example.org/path?q=1");
}
