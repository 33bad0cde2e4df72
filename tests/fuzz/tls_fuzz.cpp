// Fuzzes the TLS layer (core/src/tls: TlsConnection, its BIO and handshake) with arbitrary
// bytes as the client's ciphertext: a ClientHello or anything else, split into reads anywhere,
// with the engine pausing and resuming reading between them and the connection ending each
// way (EOF, timeouts, graceful stop, reset). Checks beyond the sanitizers: the layer keeps the
// transport contract (the fake transport traps), its memory() stays bounded, a silent peer is
// closed by the handshake timeout, and nothing of the connection is left afterwards.
#include "fuzz_input.hpp"
#include "tls_harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  lithe::fuzz::FuzzInput in(data, size);
  std::uint8_t flags = in.byte();
  std::uint8_t cap_byte = in.byte();
  std::uint16_t ops = in.u16(); // two bits per piece: read, pause first, resume first, wait
  std::vector<std::size_t> cuts = lithe::fuzz::read_cuts(in, 5);
  std::string_view bytes = in.rest();
  std::size_t cap = (flags & 0x20) ? 1 + cap_byte * 64u : 0;
  auto ending = static_cast<lithe::fuzz::Ending>((flags >> 3) & 3);
  std::size_t stop_after = (flags & 0x80) ? (flags & 7) : 8; // close early, at a random piece

  lithe::fuzz::TlsHarness h(cap, flags & 0x40);
  std::size_t i = 0;
  for (std::string_view piece : lithe::fuzz::split(bytes, std::move(cuts))) {
    if (i == stop_after) break;
    switch ((ops >> (2 * (i % 8))) & 3) {
    case 1:
      h.pause(true);
      break;
    case 2:
      h.pause(false);
      break;
    case 3:
      h.advance(lithe::Millis(400));
      break;
    default:
      break;
    }
    ++i;
    if (!h.read(piece)) break;
  }
  h.pause(false);
  h.finish(ending);
  return 0;
}
