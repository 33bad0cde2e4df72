// Fuzzes the WebSocket frame parser (RFC 6455 §5.2) fed in pieces split anywhere, and the
// incremental UTF-8 validator (§8.1): split anywhere, it must agree with the one-shot check,
// per frame and across a fragmented text message. Masking must undo itself at any phase.
#include "fuzz_input.hpp"

#include <lithe/mw/ws_codec.hpp>

#include <string>

namespace {

using namespace lithe::mw::ws;

[[noreturn]] void broken() {
  __builtin_trap();
}

// The streaming validator, fed `s` in three pieces, says what valid_utf8 says.
void check_utf8(std::string_view s, std::size_t a, std::size_t b) {
  a %= s.size() + 1;
  b %= s.size() + 1;
  if (a > b) std::swap(a, b);
  Utf8Validator v;
  bool ok = v.feed(s.substr(0, a));
  ok = v.feed(s.substr(a, b - a)) && ok;
  ok = v.feed(s.substr(b)) && ok;
  if ((ok && v.complete()) != valid_utf8(s)) broken();
  if (s.size() <= 64) { // and one byte at a time
    Utf8Validator w;
    bool all = true;
    for (std::size_t i = 0; i < s.size(); ++i)
      all = w.feed(s.substr(i, 1)) && all;
    if ((all && w.complete()) != valid_utf8(s)) broken();
  }
}

// Masking twice with the same key is the identity, also when the second pass is split
// (the second piece continues at the mask phase where the first stopped).
void check_mask(std::string_view payload, const unsigned char mask[4], std::size_t cut) {
  std::string s(payload);
  cut %= s.size() + 1;
  apply_mask(s.data(), s.size(), mask);
  apply_mask(s.data(), cut, mask);
  apply_mask(s.data() + cut, s.size() - cut, mask, cut);
  if (s != payload) broken();
}

// A frame takes its head (2, 4 or 10 bytes: a sender may use a longer length form than it
// needs), the mask and the payload.
bool plausible_size(std::size_t bytes, std::size_t len) {
  return bytes >= (len < 126 ? 2 : len <= 0xFFFF ? 4 : 10) + 4 + len && bytes <= 10 + 4 + len;
}

} // namespace

// Input: flags, two UTF-8 cut offsets, a mask, four 16-bit feed cuts, then client bytes.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  lithe::fuzz::FuzzInput in(data, size);
  std::uint8_t flags = in.byte();
  std::size_t ua = in.u16(), ub = in.u16();
  unsigned char mask[4] = {in.byte(), in.byte(), in.byte(), in.byte()};
  std::vector<std::size_t> cuts = lithe::fuzz::read_cuts(in, 4);
  static constexpr std::size_t limits[4] = {125, 1024, 65536, 1 << 20};
  const std::size_t max_payload = limits[(flags >> 1) & 3];
  const bool rsv1_ok = flags & 1;

  FrameParser parser(max_payload, rsv1_ok);
  std::size_t fed = 0, consumed = 0; // consumed: the bytes of the frames returned so far
  bool in_text = false;              // a fragmented text message is open
  std::string message;
  Utf8Validator streaming;
  bool streaming_ok = true;
  for (std::string_view piece : lithe::fuzz::split(in.rest(), std::move(cuts))) {
    parser.feed(piece);
    fed += piece.size();
    Frame f;
    FrameParser::Result r;
    while ((r = parser.next(f)) == FrameParser::Result::frame) {
      std::size_t now = fed - parser.buffered();
      if (!plausible_size(now - consumed, f.payload.size())) broken();
      consumed = now;
      const bool control = f.opcode & 8;
      if (f.payload.size() > max_payload || (f.rsv1 && !rsv1_ok)) broken();
      if (control && (!f.fin || f.rsv1 || f.payload.size() > 125)) broken();
      check_utf8(f.payload, ua, ub);
      check_mask(f.payload, mask, ua);
      if (f.opcode == text && !f.rsv1) {
        in_text = true;
        message.clear();
        streaming.reset();
        streaming_ok = true;
      } else if (f.opcode != continuation || !in_text) {
        continue;
      }
      message.append(f.payload);
      streaming_ok = streaming.feed(f.payload) && streaming_ok;
      if (f.fin) {
        if ((streaming_ok && streaming.complete()) != valid_utf8(message)) broken();
        in_text = false;
      }
    }
    if (r == FrameParser::Result::error) {
      std::uint16_t code = parser.error_code();
      if (code != protocol_error && code != too_big) broken();
      return 0; // the connection is failed: nothing more is read
    }
    if (fed != consumed + parser.buffered()) broken();
  }
  return 0;
}
