// permessage-deflate (RFC 7692): the offer/answer of Sec-WebSocket-Extensions, and one
// message's compression (raw DEFLATE, sync flush, the trailing 00 00 ff ff removed) and
// decompression (with a size limit, so a small message cannot inflate past max_message).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace lithe::mw::ws {

struct DeflateParams {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  int server_max_window_bits = 15;
  int client_max_window_bits = 15;
};

/// The first acceptable permessage-deflate offer in a Sec-WebSocket-Extensions value, or
/// nullopt (none offered, or none we can accept). RFC 7692 §7.1.
std::optional<DeflateParams> negotiate_deflate(std::string_view extensions_header);
/// The response's Sec-WebSocket-Extensions value for the accepted parameters.
std::string deflate_response(const DeflateParams& p);

class PerMessageDeflate {
public:
  explicit PerMessageDeflate(const DeflateParams& p);
  ~PerMessageDeflate();
  PerMessageDeflate(const PerMessageDeflate&) = delete;
  PerMessageDeflate& operator=(const PerMessageDeflate&) = delete;
  /// One outgoing message's payload, compressed.
  std::string compress(std::string_view message);
  /// One incoming message's payload, inflated; nullopt when it is not valid DEFLATE data or
  /// would exceed `limit` bytes (then `too_big` says which).
  std::optional<std::string> decompress(std::string_view payload, std::size_t limit, bool& too_big);

private:
  struct Streams;
  std::unique_ptr<Streams> z_;
  DeflateParams p_;
};

} // namespace lithe::mw::ws
