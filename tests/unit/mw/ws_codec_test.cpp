// The WebSocket codec: every length form, masking at any phase, the parser's refusals, and
// the UTF-8 validator against valid and invalid text split at every byte.
#include <lithe/mw/ws_codec.hpp>
#include <lithe/mw/ws_deflate.hpp>

#include "ws_wire.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <random>

using namespace lithe::mw;

namespace {
std::string masked(std::uint8_t first, const std::string& payload) {
  static const unsigned char key[4] = {0xA1, 0xB2, 0xC3, 0xD4};
  return lithe::wire::masked_frame(first, payload, key);
}
} // namespace

TEST_CASE("Frames of every length form round-trip through the parser, fed byte by byte") {
  for (std::size_t n : {0, 1, 125, 126, 127, 65535, 65536, 200000}) {
    std::string payload(n, 'a');
    for (std::size_t i = 0; i < n; ++i)
      payload[i] = static_cast<char>('a' + i % 26);
    std::string wire = masked(0x80 | ws::binary, payload);
    ws::FrameParser p(1 << 20);
    ws::Frame f;
    std::size_t fed = 0;
    ws::FrameParser::Result r = ws::FrameParser::Result::need_more;
    while (r == ws::FrameParser::Result::need_more && fed < wire.size()) {
      std::size_t step = n > 1000 ? 997 : 1;
      p.feed(std::string_view(wire).substr(fed, step));
      fed += std::min(step, wire.size() - fed);
      r = p.next(f);
    }
    REQUIRE(r == ws::FrameParser::Result::frame);
    CHECK(f.opcode == ws::binary);
    CHECK(f.fin);
    CHECK(f.payload == payload);
    std::string out;
    ws::encode_frame(out, ws::binary, payload);
    CHECK(out.size() == payload.size() + (n < 126 ? 2 : n <= 0xFFFF ? 4 : 10));
  }
}

TEST_CASE("A frame fed in pieces costs its size in buffer, and an idle parser keeps none") {
  const std::string payload(200000, 'p');
  const std::string wire = masked(0x80 | ws::binary, payload);
  ws::FrameParser p(1 << 20);
  ws::Frame f;
  ws::FrameParser::Result r = ws::FrameParser::Result::need_more;
  for (std::size_t at = 0; at < wire.size() && r == ws::FrameParser::Result::need_more; at += 997) {
    p.feed(std::string_view(wire).substr(at, 997));
    r = p.next(f);
  }
  REQUIRE(r == ws::FrameParser::Result::frame);
  CHECK(f.payload == payload);
  CHECK(p.capacity() <= wire.size() + 64); // not the doubling's 256 KiB
  CHECK(p.next(f) == ws::FrameParser::Result::need_more);
  p.shrink();
  CHECK(p.capacity() < 64);
}

TEST_CASE("Tiny frames fed a byte at a time cost linear work and a small buffer") {
  std::string wire;
  for (int i = 0; i < 100000; ++i)
    wire += masked(ws::continuation, "y");
  ws::FrameParser p(1 << 20);
  ws::Frame f;
  std::size_t frames = 0, most = 0;
  auto start = std::chrono::steady_clock::now();
  for (char c : wire) {
    p.feed(std::string_view(&c, 1));
    while (p.next(f) == ws::FrameParser::Result::frame)
      ++frames;
    most = std::max(most, p.capacity());
  }
  CHECK(frames == 100000);
  CHECK(most < 64);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
}

TEST_CASE("Masking gives the same bytes at any phase and alignment") {
  std::mt19937 rng(7);
  const unsigned char key[4] = {1, 2, 3, 4};
  for (std::size_t len = 0; len < 40; ++len) {
    std::string s(len, '\0');
    for (char& c : s)
      c = static_cast<char>(rng());
    std::string fast = s, slow = s;
    ws::apply_mask(fast.data(), fast.size(), key, 3);
    for (std::size_t i = 0; i < slow.size(); ++i)
      slow[i] = static_cast<char>(slow[i] ^ key[(i + 3) & 3]);
    CHECK(fast == slow);
  }
}

TEST_CASE("The parser refuses what RFC 6455 forbids, naming the close code") {
  auto code = [](const std::string& wire, std::size_t limit = 1 << 20) {
    ws::FrameParser p(limit);
    p.feed(wire);
    ws::Frame f;
    return p.next(f) == ws::FrameParser::Result::error ? p.error_code() : 0;
  };
  CHECK(code(masked(0x80 | 0x40 | ws::text, "x")) == ws::protocol_error);
  CHECK(code(masked(0x80 | 0x7, "x")) == ws::protocol_error);
  CHECK(code(masked(ws::ping, "x")) == ws::protocol_error);
  CHECK(code(masked(0x80 | ws::close, std::string(126, 'c'))) == ws::protocol_error);
  CHECK(code(std::string("\x81\x02hi", 4)) == ws::protocol_error); // not masked
  CHECK(code(masked(0x80 | ws::text, std::string(100, 'x')), 99) == ws::too_big);
  CHECK(code(masked(0x80 | ws::text, "fine")) == 0);
}

TEST_CASE("UTF-8: valid text passes split at every byte, invalid text fails") {
  const std::string valid = "ascii κόσμε 日本語 \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF end";
  for (std::size_t cut = 0; cut <= valid.size(); ++cut) {
    ws::Utf8Validator v;
    CHECK(v.feed(std::string_view(valid).substr(0, cut)));
    CHECK(v.feed(std::string_view(valid).substr(cut)));
    CHECK(v.complete());
  }
  for (const char* bad : {"\xC0\xAF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80",
                          "\xF5\x80\x80\x80", "\x80", "\xFE", "a\xC2"}) {
    ws::Utf8Validator v;
    bool ok = v.feed(bad) && v.complete();
    CHECK_FALSE(ok);
    CHECK_FALSE(ws::valid_utf8(bad));
  }
  CHECK(ws::valid_utf8(""));
  CHECK(ws::valid_utf8(std::string(1000, 'a')));
}

TEST_CASE("Close codes: which may appear on the wire") {
  for (std::uint16_t ok : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999})
    CHECK(ws::valid_close_code(ok));
  for (std::uint16_t bad : {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000})
    CHECK_FALSE(ws::valid_close_code(bad));
}

TEST_CASE("permessage-deflate: offers negotiated, messages round-trip, limits hold") {
  using lithe::mw::ws::negotiate_deflate;
  using Status = lithe::mw::ws::PerMessageDeflate::Status;
  auto p = negotiate_deflate("permessage-deflate; client_max_window_bits");
  REQUIRE(p);
  CHECK(lithe::mw::ws::deflate_response(*p) == "permessage-deflate");
  auto q = negotiate_deflate("x-webkit-deflate-frame, permessage-deflate; "
                             "server_no_context_takeover; server_max_window_bits=10");
  REQUIRE(q);
  CHECK(lithe::mw::ws::deflate_response(*q) ==
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=10");
  CHECK_FALSE(negotiate_deflate("permessage-deflate; unknown_param"));
  CHECK_FALSE(negotiate_deflate("permessage-deflate; server_max_window_bits=20"));
  CHECK_FALSE(negotiate_deflate(""));

  lithe::mw::ws::PerMessageDeflate out(*q), in(*p);
  const std::string msg(5000, 'w');
  for (int i = 0; i < 3; ++i) { // context carried over (or not) between messages
    std::string c, back;
    REQUIRE(out.compress(msg, c) == Status::ok);
    CHECK(c.size() < msg.size() / 10);
    REQUIRE(in.decompress(c, 1 << 20, back) == Status::ok);
    CHECK(back == msg);
  }
  std::string c, back;
  REQUIRE(out.compress(msg, c) == Status::ok);
  CHECK(in.decompress(c, 100, back) == Status::too_big);
}
