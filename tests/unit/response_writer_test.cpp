// ResponseWriter (core/src/http/response_writer.*): the head and the body framing as pure
// functions over a buffer, checked byte for byte (RFC 9112 §6-7; SPEC §3).
#include "http/response_writer.hpp"

#include <catch2/catch.hpp>
#include <lithe/lithe.hpp>

#include <string>

using namespace lithe;
using namespace lithe::http;

namespace {
constexpr std::string_view date = "Date: Mon, 30 Nov 2026 12:00:00 GMT\r\n";
constexpr std::string_view server = "Server: lithe\r\n";

HeadParams params(bool streaming = false) {
  return {.streaming = streaming, .date = date, .server = server};
}
} // namespace

TEST_CASE("A bytes body gets Content-Length; the app's Transfer-Encoding and Connection are the "
          "server's to write") {
  std::string b;
  Response r(
      200,
      {{"Content-Type", "text/plain"}, {"Transfer-Encoding", "gzip"}, {"Connection", "keep-alive"}},
      "hello");
  HeadResult h = write_head(b, r, params());
  CHECK(b == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n" +
                 std::string(date) + std::string(server) + "\r\n");
  CHECK(h.framing == Framing::none);
  CHECK(h.keep_alive);
  CHECK(h.bytes == b.size());
}

TEST_CASE("A body written over time is chunked on HTTP/1.1 and close-delimited on HTTP/1.0") {
  std::string b;
  Response r(200, {}, DeferrableBody());
  CHECK(write_head(b, r, params(true)).framing == Framing::chunked);
  CHECK(b.find("Transfer-Encoding: chunked\r\n") != std::string::npos);
  std::string b10;
  HeadParams p10 = params(true);
  p10.http10 = true;
  HeadResult h = write_head(b10, r, p10);
  CHECK(h.framing == Framing::close_delimited);
  CHECK_FALSE(h.keep_alive);
  CHECK(b10.find("Connection: close\r\n") != std::string::npos);
}

TEST_CASE("A body over time with the app's Content-Length keeps it and counts down") {
  std::string b;
  HeadResult h =
      write_head(b, Response(200, {{"Content-Length", "4"}}, DeferrableBody()), params(true));
  CHECK(h.framing == Framing::length);
  CHECK(h.length == 4);
  BodyEncoder enc(h.framing, h.length);
  CHECK(enc.admit(3) == 3);
  CHECK_FALSE(enc.complete());
  CHECK(enc.admit(3) == 1); // past the length: the rest is dropped
  CHECK(enc.truncated());
  CHECK(enc.complete());
}

TEST_CASE("HEAD keeps the Content-Length and swallows the body; 204 and 304 have none") {
  std::string b;
  HeadParams p = params();
  p.is_head = true;
  HeadResult h = write_head(b, Response(200, {}, "hello"), p);
  CHECK(b.find("Content-Length: 5\r\n") != std::string::npos);
  CHECK(h.framing == Framing::swallow);
  std::string b204;
  CHECK(write_head(b204, Response(204, {}, ""), params()).framing == Framing::swallow);
  CHECK(b204.find("Content-Length") == std::string::npos);
  std::string b304;
  write_head(b304, Response(304, {{"Content-Length", "10"}}, ""), params());
  CHECK(b304.find("Content-Length: 10\r\n") != std::string::npos);
}

TEST_CASE("A header with CR, LF or NUL is dropped and reported; a wrong Content-Length is "
          "replaced by the body's") {
  std::string b;
  HeadResult h = write_head(
      b, Response(200, {{"X-Split", "a\r\nSet-Cookie: x=1"}, {"Content-Length", "9"}}, "abc"),
      params());
  CHECK(h.dropped_header);
  CHECK(b.find("Set-Cookie") == std::string::npos);
  CHECK(h.app_length == "9");
  CHECK(h.body_size == 3);
  CHECK(b.find("Content-Length: 3\r\n") != std::string::npos);
}

TEST_CASE("Connection: close from the app closes; a 1.0 client that keeps alive is told so") {
  std::string b;
  CHECK_FALSE(write_head(b, Response(200, {{"Connection", "close"}}, "x"), params()).keep_alive);
  CHECK(b.find("Connection: close\r\n") != std::string::npos);
  std::string b10;
  HeadParams p = params();
  p.http10 = true;
  write_head(b10, Response(200, {}, "x"), p);
  CHECK(b10.find("Connection: keep-alive\r\n") != std::string::npos);
}

TEST_CASE("The chunked encoder frames each piece in hex and ends with the last chunk") {
  BodyEncoder enc(Framing::chunked, 0);
  std::string b;
  enc.before(b, 255);
  CHECK(b == "ff\r\n");
  CHECK(enc.after() == "\r\n");
  CHECK(enc.end() == "0\r\n\r\n");
  CHECK(enc.complete());
}

TEST_CASE("A simple answer of the engine's own closes the connection") {
  std::string b;
  write_simple(b, 413, "too big\n", date, server);
  CHECK(b.starts_with("HTTP/1.1 413 "));
  CHECK(b.find("Content-Length: 8\r\nConnection: close\r\n\r\ntoo big\n") != std::string::npos);
}
