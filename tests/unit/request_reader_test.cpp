// RequestReader (core/src/http/request_reader.*): bytes to requests without a connection, each
// refusal with its status (RFC 9112; SPEC §11), and where a streamed body's head ends.
#include "http/request_reader.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace lithe;
using namespace lithe::http;
using Event = RequestReader::Event;

namespace {

struct Reader {
  HttpOptions opts;
  HostCache hosts;
  RequestReader r;
  std::string buf;
  explicit Reader(bool stream = false) {
    opts.stream_bodies = stream;
    r.begin(opts, hosts, stream);
  }
  /// Feeds everything at once; `used` gets the bytes the reader took.
  Event feed(std::string bytes, std::size_t* used = nullptr) {
    buf = std::move(bytes);
    std::size_t n = 0;
    Event ev = r.feed(buf.data(), buf.data(), buf.size(), n);
    if (used) *used = n;
    return ev;
  }
  std::string_view span(RequestReader::Span s) const { return {buf.data() + s.off, s.len}; }
};

/// The status a request is refused with (0: it was accepted).
int refused(std::string req) {
  Reader rd;
  return rd.feed(std::move(req)) == Event::error ? rd.r.status() ? rd.r.status() : 400 : 0;
}

} // namespace

TEST_CASE("A request read at once ends with its target, headers and body as spans") {
  Reader rd;
  std::size_t used = 0;
  std::string req = "POST /a?b=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nxyz";
  REQUIRE(rd.feed(req + "GET /next", &used) == Event::end);
  CHECK(used == req.size()); // stops after one request
  CHECK(rd.span(rd.r.url()) == "/a?b=1");
  REQUIRE(rd.r.headers().size() == 2);
  CHECK(rd.span(rd.r.headers()[0].name) == "Host");
  CHECK(rd.span(rd.r.body_span()) == "xyz");
}

TEST_CASE("A request split byte by byte needs more until its last byte") {
  Reader rd;
  std::string req = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
  std::size_t n = 0;
  for (std::size_t i = 0; i + 1 < req.size(); ++i)
    REQUIRE(rd.r.feed(req.data(), req.data() + i, 1, n) == Event::more);
  CHECK(rd.r.feed(req.data(), req.data() + req.size() - 1, 1, n) == Event::end);
}

TEST_CASE("Each refusal has its status") {
  CHECK(refused("GET / HTTP/1.1\r\n\r\n") == 400);                          // no Host
  CHECK(refused("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == 400);    // two
  CHECK(refused("GET / HTTP/1.1\r\nHost: a b\r\n\r\n") == 400);             // not a host
  CHECK(refused("GET / HTTP/1.1\nHost: a\r\n\r\n") == 400);                 // bare LF
  CHECK(refused("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n") == 400); // folding
  CHECK(refused("GET x HTTP/1.1\r\nHost: a\r\n\r\n") == 400);               // target form
  CHECK(refused("GET * HTTP/1.1\r\nHost: a\r\n\r\n") == 400);               // * is OPTIONS'
  CHECK(refused("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n") == 0);
  CHECK(refused("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n") == 501);
  CHECK(refused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n") == 501);
  CHECK(refused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n") == 400);
  CHECK(refused("POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx") ==
        417);
  CHECK(refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n") == 413);
  CHECK(refused("GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n") == 414);
  std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 101; ++i)
    many += "X: 1\r\n";
  CHECK(refused(many + "\r\n") == 431);
}

TEST_CASE("Trailer fields are read and not kept") {
  Reader rd;
  REQUIRE(rd.feed("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "1\r\nx\r\n0\r\nX-Trailer: 1\r\n\r\n") == Event::end);
  CHECK(rd.r.headers().size() == 2);
  CHECK(rd.r.body_span().len == 1);
}

TEST_CASE("Streaming: a body that has not arrived stops at the head, one that has is whole") {
  Reader waiting(true);
  std::size_t used = 0;
  std::string head = "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n";
  REQUIRE(waiting.feed(head + "abc", &used) == Event::head);
  CHECK(used == head.size());
  CHECK(waiting.r.head_end() == head.size());
  CHECK(waiting.r.streams());
  Reader here(true);
  CHECK(here.feed(head + "0123456789") == Event::end);
  CHECK_FALSE(here.r.streams());
  Reader chunked(true);
  CHECK(chunked.feed("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n") ==
        Event::head);
}

TEST_CASE("Streaming: a chunked body's end is checked for CRLF across feeds") {
  Reader rd(true);
  std::string head = "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::size_t used = 0;
  REQUIRE(rd.feed(head, &used) == Event::head);
  std::string body = "1\r\nx\r\n0\r\n\n";
  std::size_t n = 0;
  Event ev = Event::more;
  for (std::size_t i = 0; i < body.size() && ev == Event::more; ++i)
    ev = rd.r.feed(body.data() + i, body.data() + i, 1, n);
  CHECK(ev == Event::error);
  CHECK(rd.r.status() == 400);
}
