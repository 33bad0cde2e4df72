// Fuzzes permessage-deflate (RFC 7692): the Sec-WebSocket-Extensions offer parser, and
// decompress() on several messages through one object (context takeover) with a 1 MiB limit.
// Also: what compress() makes, decompress() gives back, and an accepted offer's answer parses
// to the same parameters.
#include "fuzz_input.hpp"

#include <lithe/mw/ws_deflate.hpp>

#include <string>

namespace {

using namespace lithe::mw::ws;

[[noreturn]] void broken() {
  __builtin_trap();
}

constexpr std::size_t limit = 1 << 20;

DeflateParams negotiate(std::string_view offer) {
  std::optional<DeflateParams> p = negotiate_deflate(offer);
  if (!p) return {};
  // What the server answers is itself an offer it would accept, with the same terms.
  std::optional<DeflateParams> again = negotiate_deflate(deflate_response(*p));
  if (!again || again->server_no_context_takeover != p->server_no_context_takeover ||
      again->client_no_context_takeover != p->client_no_context_takeover ||
      again->server_max_window_bits != p->server_max_window_bits)
    broken();
  if (p->server_max_window_bits < 9 || p->server_max_window_bits > 15 ||
      p->client_max_window_bits < 9 || p->client_max_window_bits > 15)
    broken();
  return *p;
}

} // namespace

// Input: an offer's length and text, then messages, each a 16-bit length and its bytes.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  lithe::fuzz::FuzzInput in(data, size);
  DeflateParams params = negotiate(in.take(in.byte()));

  PerMessageDeflate receiver(params);
  DeflateParams takeover = params; // a receiver that keeps context, as the sender may
  takeover.client_no_context_takeover = false;
  PerMessageDeflate sender(params), echo(takeover);
  for (int i = 0; i < 8 && in.left() > 0; ++i) {
    std::string_view message = in.take(in.u16() % 4096);
    bool too_big = false;
    std::optional<std::string> out = receiver.decompress(message, limit, too_big);
    if (out && (too_big || out->size() > limit)) broken();

    std::string packed = sender.compress(message);
    std::optional<std::string> back = echo.decompress(packed, limit, too_big);
    if (!back || *back != message) broken();
  }
  return 0;
}
