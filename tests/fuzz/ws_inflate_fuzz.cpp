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

DeflateParams negotiate(std::string_view offer, const DeflateOptions& options) {
  std::optional<DeflateParams> p = negotiate_deflate(offer);
  if (!p) return {};
  if (p->server_max_window_bits < 9 || p->server_max_window_bits > 15 ||
      p->client_max_window_bits < 8 || p->client_max_window_bits > 15)
    broken();
  // What the server answers is itself an offer it would accept, with the same terms.
  DeflateParams agreed = answer_deflate(*p, options);
  std::optional<DeflateParams> again = negotiate_deflate(deflate_response(agreed));
  // A window the client did not ask about is not named (RFC 7692 §7.1.2.1): the server may
  // still use a smaller one, which any client's inflater takes.
  int named = p->server_max_window_bits_offered ? agreed.server_max_window_bits : 15;
  if (!again || again->server_no_context_takeover != agreed.server_no_context_takeover ||
      again->client_no_context_takeover != agreed.client_no_context_takeover ||
      again->server_max_window_bits != named || agreed.server_max_window_bits > named)
    broken();
  return agreed;
}

} // namespace

// Input: the server's options (a byte), an offer's length and text, then messages, each a
// 16-bit length and its bytes.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  lithe::fuzz::FuzzInput in(data, size);
  std::uint8_t choice = in.byte();
  DeflateOptions options{.context_takeover = (choice & 1) != 0,
                         .window_bits = 9 + (choice >> 1) % 7,
                         .mem_level = 1 + (choice >> 4) % 9};
  DeflateParams params = negotiate(in.take(in.byte()), options);

  PerMessageDeflate receiver(params, options);
  DeflateParams takeover = params; // a receiver that keeps context, as the sender may
  takeover.client_no_context_takeover = false;
  takeover.client_max_window_bits = 15;
  PerMessageDeflate sender(params, options), echo(takeover, {.context_takeover = true});
  std::string out, packed, back;
  for (int i = 0; i < 8 && in.left() > 0; ++i) {
    std::string_view message = in.take(in.u16() % 4096);
    PerMessageDeflate::Status st = receiver.decompress(message, limit, out);
    if (st == PerMessageDeflate::Status::ok && out.size() > limit) broken();
    if (out.size() > limit) broken(); // never grows past the limit, whatever the outcome

    if (sender.compress(message, packed) != PerMessageDeflate::Status::ok) broken();
    if (echo.decompress(packed, limit, back) != PerMessageDeflate::Status::ok || back != message)
      broken();
  }
  return 0;
}
