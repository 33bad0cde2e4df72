// Server-Sent Events wire format: fields, and data split on every kind of line break.
#include <lithe/mw/sse.hpp>

#include <catch2/catch.hpp>

using namespace lithe::mw;

TEST_CASE("An SSE event carries event, id and retry, and ends with a blank line") {
  CHECK(format_sse({.event = "update", .data = "x", .id = "7", .retry = 1500}) ==
        "event: update\nid: 7\nretry: 1500\ndata: x\n\n");
  CHECK(format_sse({.data = "plain"}) == "data: plain\n\n");
  CHECK(format_sse({.data = ""}) == "data: \n\n");
}

TEST_CASE("Multi-line data becomes one data line per line, for LF, CR and CRLF") {
  CHECK(format_sse({.data = "a\nb"}) == "data: a\ndata: b\n\n");
  CHECK(format_sse({.data = "a\rb"}) == "data: a\ndata: b\n\n");
  CHECK(format_sse({.data = "a\r\nb\r\n"}) == "data: a\ndata: b\ndata: \n\n");
  CHECK(format_sse({.data = "\n\n"}) == "data: \ndata: \ndata: \n\n");
}

TEST_CASE("The stream's head forbids caching and proxy buffering") {
  auto h = sse_headers();
  CHECK(h.get("content-type") == "text/event-stream; charset=utf-8");
  CHECK(h.get("cache-control") == "no-cache");
  CHECK(h.get("x-accel-buffering") == "no");
}
