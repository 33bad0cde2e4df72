// RFC 6455 §5.2 framing and §8.1 UTF-8, written for the server side: client frames must be
// masked, server frames are not.
#include <lithe/mw/ws_codec.hpp>

#include <algorithm>
#include <cstring>

namespace lithe::mw::ws {

bool valid_close_code(std::uint16_t code) noexcept {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

void FrameParser::feed(std::string_view bytes) {
  if (at_ == buf_.size()) {
    buf_.clear();
    at_ = 0;
  }
  if (buf_.size() + bytes.size() <= buf_.capacity()) {
    buf_.append(bytes);
    return;
  }
  // The buffer must move or compact: keep only the unparsed bytes. Growth doubles, so a frame
  // fed a byte at a time costs O(n), but stops at the frame's announced end, so a large frame
  // costs its size and not twice it (the budget counts capacity).
  const std::size_t unparsed = buf_.size() - at_, need = unparsed + bytes.size();
  if (need <= buf_.capacity()) {
    buf_.erase(0, at_);
  } else {
    std::size_t cap = std::max(need, 2 * buf_.capacity());
    if (want_ >= need) cap = std::min(cap, want_);
    std::string grown; // a fresh string reserves exactly; growing one in place may double
    grown.reserve(cap);
    grown.append(buf_, at_, unparsed);
    buf_.swap(grown);
  }
  at_ = 0;
  buf_.append(bytes);
}

void FrameParser::shrink() noexcept {
  if (at_ == buf_.size() && buf_.capacity() > 4096) {
    std::string().swap(buf_);
    at_ = 0;
  }
}

FrameParser::Result FrameParser::next(Frame& out) {
  const std::size_t avail = buf_.size() - at_;
  if (avail < 2) return Result::need_more;
  auto* p = reinterpret_cast<unsigned char*>(buf_.data() + at_);
  const bool fin = p[0] & 0x80;
  const bool rsv1 = p[0] & 0x40;
  const std::uint8_t opcode = p[0] & 0x0F;
  if (p[0] & 0x30) return fail(protocol_error, "reserved bits RSV2/RSV3 set");
  if (rsv1 && !allow_rsv1_) return fail(protocol_error, "RSV1 set without permessage-deflate");
  const bool control = opcode & 0x08;
  if (opcode != continuation && opcode != text && opcode != binary && opcode != close &&
      opcode != ping && opcode != pong)
    return fail(protocol_error, "unknown opcode");
  if (control && !fin) return fail(protocol_error, "fragmented control frame");
  if (control && rsv1) return fail(protocol_error, "RSV1 set on a control frame");
  if (!(p[1] & 0x80)) return fail(protocol_error, "client frame not masked");
  std::uint64_t len = p[1] & 0x7F;
  std::size_t head = 2;
  if (len == 126) {
    if (avail < 4) return Result::need_more;
    len = (std::uint64_t{p[2]} << 8) | p[3];
    head = 4;
  } else if (len == 127) {
    if (avail < 10) return Result::need_more;
    len = 0;
    for (int i = 0; i < 8; ++i)
      len = (len << 8) | p[2 + i];
    if (len >> 63) return fail(protocol_error, "64-bit length with its top bit set");
    head = 10;
  }
  if (control && len > 125) return fail(protocol_error, "control frame over 125 bytes");
  if (len > max_payload_) return fail(too_big, "frame larger than the message limit");
  if (avail < head + 4 + len) {
    want_ = head + 4 + static_cast<std::size_t>(len);
    return Result::need_more;
  }
  want_ = 0;
  unsigned char mask[4];
  std::memcpy(mask, p + head, 4);
  char* payload = reinterpret_cast<char*>(p + head + 4);
  apply_mask(payload, static_cast<std::size_t>(len), mask);
  out.fin = fin;
  out.rsv1 = rsv1;
  out.opcode = opcode;
  out.payload = std::string_view(payload, static_cast<std::size_t>(len));
  at_ += head + 4 + static_cast<std::size_t>(len);
  return Result::frame;
}

void encode_frame(std::string& out, std::uint8_t opcode, std::string_view payload, bool fin,
                  bool rsv1) {
  const std::size_t len = payload.size();
  char head[10];
  std::size_t n = 2;
  head[0] = static_cast<char>((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (opcode & 0x0F));
  if (len < 126) {
    head[1] = static_cast<char>(len);
  } else if (len <= 0xFFFF) {
    head[1] = 126;
    head[2] = static_cast<char>(len >> 8);
    head[3] = static_cast<char>(len);
    n = 4;
  } else {
    head[1] = 127;
    for (int i = 0; i < 8; ++i)
      head[2 + i] = static_cast<char>(static_cast<std::uint64_t>(len) >> (56 - 8 * i));
    n = 10;
  }
  out.reserve(out.size() + n + len);
  out.append(head, n);
  out.append(payload);
}

std::string close_payload(std::uint16_t code, std::string_view reason) {
  std::string p;
  p += static_cast<char>(code >> 8);
  p += static_cast<char>(code & 0xFF);
  p.append(reason.substr(0, 123)); // a control frame carries at most 125 bytes
  return p;
}

void apply_mask(char* data, std::size_t len, const unsigned char mask[4],
                std::size_t phase) noexcept {
  // Eight bytes at a time with the mask rotated to the phase, then the tail.
  unsigned char m[8];
  for (int i = 0; i < 8; ++i)
    m[i] = mask[(phase + static_cast<std::size_t>(i)) & 3];
  std::uint64_t m64;
  std::memcpy(&m64, m, 8);
  std::size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    std::uint64_t v;
    std::memcpy(&v, data + i, 8);
    v ^= m64;
    std::memcpy(data + i, &v, 8);
  }
  for (; i < len; ++i)
    data[i] = static_cast<char>(data[i] ^ m[i & 7]);
}

// The validator's state: the number of continuation bytes still due (bits 0-1) and the range
// the next one must fall in (lo in bits 8-15, hi in bits 16-23).
namespace {
constexpr std::uint32_t state(std::uint32_t need, std::uint32_t lo, std::uint32_t hi) {
  return need | lo << 8 | hi << 16;
}
} // namespace

bool Utf8Validator::feed(std::string_view bytes) noexcept {
  std::uint32_t st = state_;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  std::size_t i = 0;
  while (i < n) {
    if (st == 0) {
      // ASCII runs, eight bytes at a time.
      while (i + 8 <= n) {
        std::uint64_t v;
        std::memcpy(&v, p + i, 8);
        if (v & 0x8080808080808080ull) break;
        i += 8;
      }
      if (i == n) break;
      unsigned char c = p[i++];
      if (c < 0x80) continue;
      if (c >= 0xC2 && c <= 0xDF)
        st = state(1, 0x80, 0xBF);
      else if (c == 0xE0)
        st = state(2, 0xA0, 0xBF);
      else if (c == 0xED)
        st = state(2, 0x80, 0x9F); // no UTF-16 surrogates
      else if (c >= 0xE1 && c <= 0xEF)
        st = state(2, 0x80, 0xBF);
      else if (c == 0xF0)
        st = state(3, 0x90, 0xBF);
      else if (c >= 0xF1 && c <= 0xF3)
        st = state(3, 0x80, 0xBF);
      else if (c == 0xF4)
        st = state(3, 0x80, 0x8F); // nothing above U+10FFFF
      else {
        state_ = 0xFFFFFFFF;
        return false;
      }
      continue;
    }
    if (st == 0xFFFFFFFF) return false;
    unsigned char c = p[i++];
    std::uint32_t lo = (st >> 8) & 0xFF, hi = (st >> 16) & 0xFF, need = st & 3;
    if (c < lo || c > hi) {
      state_ = 0xFFFFFFFF;
      return false;
    }
    st = need == 1 ? 0 : state(need - 1, 0x80, 0xBF);
  }
  state_ = st;
  return st != 0xFFFFFFFF;
}

bool valid_utf8(std::string_view s) noexcept {
  Utf8Validator v;
  return v.feed(s) && v.complete();
}

} // namespace lithe::mw::ws
