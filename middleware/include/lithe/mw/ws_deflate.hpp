// permessage-deflate (RFC 7692): the offer/answer of Sec-WebSocket-Extensions (§7.1), and one
// message's compression (§7.2.1: raw DEFLATE, sync flush, the trailing 00 00 ff ff removed) and
// decompression (§7.2.2, BFINAL blocks too), each bounded by its input and its output limit.
#pragma once

#include <lithe/function.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace lithe::mw::ws {

/// How a server keeps its zlib state (docs/websocket.md, "Compression").
struct DeflateOptions {
  /// false: every offer is answered with server_no_context_takeover and
  /// client_no_context_takeover (§7.1.1), and messages go through one deflate and one inflate
  /// stream per loop thread, reset after each message: an idle connection holds no zlib state.
  /// true: context takeover, as the client offered: each connection gets its own streams,
  /// created on first use, sized below and charged to its memory budget. A better ratio for
  /// chat-like traffic, for about 300 KiB per connection at the defaults.
  bool context_takeover = false;
  /// The LZ77 window of dedicated streams, 2^window_bits bytes (9-15): ours, and the most the
  /// client may use when it offers client_max_window_bits.
  int window_bits = 15;
  /// zlib's memLevel for a dedicated deflate stream (1-9): 2^(mem_level+9) bytes of hash.
  int mem_level = 8;
};

/// Agreed permessage-deflate parameters (or, from negotiate_deflate, the ones offered).
struct DeflateParams {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  int server_max_window_bits = 15;
  int client_max_window_bits = 15;
  // Whether the offer named the window sizes: the answer may only name those it did (§7.1.2).
  bool server_max_window_bits_offered = false;
  bool client_max_window_bits_offered = false;
};

/// The first acceptable permessage-deflate offer in a Sec-WebSocket-Extensions value, or
/// nullopt (none offered, or none we can accept). RFC 7692 §7.1.
std::optional<DeflateParams> negotiate_deflate(std::string_view extensions_header);
/// What the server agrees to for an accepted offer under its options.
DeflateParams answer_deflate(const DeflateParams& offer, const DeflateOptions& options);
/// The response's Sec-WebSocket-Extensions value for the agreed parameters.
std::string deflate_response(const DeflateParams& p);

/// The zlib state one connection holds for permessage-deflate. A direction whose context is
/// not taken over uses the loop thread's shared stream; the other gets a dedicated stream on
/// first use, charged (zlib's documented sizes) through `charge` before it is allocated.
class PerMessageDeflate {
public:
  /// Called with the bytes a dedicated stream is about to hold; false refuses them.
  using Charge = Function<bool(std::ptrdiff_t bytes)>;
  enum class Status {
    ok,
    too_big,     // the inflated message would exceed the limit
    invalid,     // not valid DEFLATE data for a message
    over_budget, // `charge` refused a dedicated stream's memory
    no_memory,   // zlib could not allocate its state
  };

  explicit PerMessageDeflate(const DeflateParams& p, const DeflateOptions& o = {},
                             Charge charge = {});
  ~PerMessageDeflate();
  PerMessageDeflate(const PerMessageDeflate&) = delete;
  PerMessageDeflate& operator=(const PerMessageDeflate&) = delete;

  /// One outgoing message's payload, compressed into `out` (replacing what it held).
  Status compress(std::string_view message, std::string& out);
  /// One incoming message's payload, inflated into `out`, which never grows past `limit`
  /// bytes: the work is bounded by the payload and the limit.
  Status decompress(std::string_view payload, std::size_t limit, std::string& out);
  /// Bytes of dedicated zlib state held now (zlib's documented sizes; 0 until first use).
  std::size_t memory() const noexcept;

  /// What a dedicated stream costs, by zlib's documentation (zconf.h).
  static std::size_t deflate_cost(int window_bits, int mem_level) noexcept;
  static std::size_t inflate_cost(int window_bits) noexcept;

private:
  struct Dedicated;
  std::unique_ptr<Dedicated> out_, in_;
  DeflateParams p_;
  DeflateOptions o_;
  Charge charge_;
};

} // namespace lithe::mw::ws
