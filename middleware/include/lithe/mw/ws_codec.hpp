// The WebSocket wire format (RFC 6455 §5): an incremental frame parser for client frames,
// frame encoding for server frames, masking, and an incremental UTF-8 validator (§8.1) that
// checks text split anywhere, across fragments.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace lithe::mw::ws {

enum Opcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

/// RFC 6455 §7.4.1 close codes lithe sends.
enum CloseCode : std::uint16_t {
  normal = 1000,
  going_away = 1001,
  protocol_error = 1002,
  unsupported = 1003,
  no_status = 1005, // never sent: on_close reports it when the peer gave no code
  abnormal = 1006,  // never sent: on_close reports it when the TCP connection just ended
  invalid_payload = 1007,
  policy = 1008,
  too_big = 1009,
  internal_error = 1011,
};

/// Whether a close code may appear in a close frame (§7.4): 1000-1003, 1007-1014, 3000-4999.
bool valid_close_code(std::uint16_t code) noexcept;

struct Frame {
  bool fin = true;
  bool rsv1 = false; // "compressed" under permessage-deflate
  std::uint8_t opcode = 0;
  std::string_view payload; // unmasked; valid until the next feed()
};

/// Parses client-to-server frames. Feed bytes as they come; next() yields whole frames.
class FrameParser {
public:
  /// `max_payload`: a frame announcing more is refused (1009) before it is buffered.
  /// `allow_rsv1`: permessage-deflate was negotiated.
  explicit FrameParser(std::size_t max_payload, bool allow_rsv1 = false) noexcept
      : max_payload_(max_payload), allow_rsv1_(allow_rsv1) {}
  void feed(std::string_view bytes);
  enum class Result { frame, need_more, error };
  /// The next whole frame, or need_more, or error (then error_code()/error_reason() say why;
  /// the connection must be failed).
  Result next(Frame& out);
  std::uint16_t error_code() const noexcept { return code_; }
  const char* error_reason() const noexcept { return reason_; }
  /// Bytes buffered and not yet returned as frames.
  std::size_t buffered() const noexcept { return buf_.size() - at_; }
  /// The memory the buffer holds, for the connection's budget.
  std::size_t capacity() const noexcept { return buf_.capacity(); }
  /// Frees a large buffer once everything in it was parsed, so an idle connection keeps none.
  void shrink() noexcept;

private:
  Result fail(std::uint16_t code, const char* reason) noexcept {
    code_ = code;
    reason_ = reason;
    return Result::error;
  }
  std::string buf_;
  std::size_t at_ = 0;
  std::size_t want_ = 0; // bytes from at_ to the end of the frame in progress, once known
  std::size_t max_payload_;
  bool allow_rsv1_;
  std::uint16_t code_ = 0;
  const char* reason_ = "";
};

/// Appends one server frame (unmasked) to `out`.
void encode_frame(std::string& out, std::uint8_t opcode, std::string_view payload, bool fin = true,
                  bool rsv1 = false);
/// A close frame's payload: the code (big-endian) and the reason.
std::string close_payload(std::uint16_t code, std::string_view reason);
/// XORs `data` with the 4-byte `mask`, starting at mask offset `phase`.
void apply_mask(char* data, std::size_t len, const unsigned char mask[4],
                std::size_t phase = 0) noexcept;

/// Validates UTF-8 fed in pieces split anywhere (RFC 3629: no overlongs, no surrogates,
/// nothing above U+10FFFF). Fails as soon as a byte cannot continue a valid sequence.
class Utf8Validator {
public:
  /// False once the input so far cannot be valid UTF-8.
  bool feed(std::string_view bytes) noexcept;
  /// True when everything fed so far is valid and no sequence is left open.
  bool complete() const noexcept { return state_ == 0; }
  void reset() noexcept { state_ = 0; }

private:
  std::uint32_t state_ = 0; // 0: between characters; else the DFA state
};

/// One-shot check of a whole string.
bool valid_utf8(std::string_view s) noexcept;

} // namespace lithe::mw::ws
