// WebSocket client bytes made by hand, for tests and attack tools that must send what real
// clients never would (RFC 6455 §5.2 framing; RFC 7692 payloads). Header-only, zlib only, so
// the load tools (bench/load) share it with the tests.
#pragma once

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace lithe::wire {

/// A client frame: `first` carries FIN, RSV and the opcode as on the wire; masked with `key`
/// unless `mask` is false (which servers must refuse).
inline std::string masked_frame(std::uint8_t first, std::string_view payload,
                                const unsigned char (&key)[4], bool mask = true) {
  std::string f(1, static_cast<char>(first));
  const std::size_t n = payload.size();
  const char m = mask ? char(0x80) : 0;
  if (n < 126) {
    f += static_cast<char>(m | static_cast<char>(n));
  } else if (n <= 0xFFFF) {
    f += static_cast<char>(m | 126);
    f += static_cast<char>(n >> 8);
    f += static_cast<char>(n & 0xFF);
  } else {
    f += static_cast<char>(m | 127);
    for (int i = 7; i >= 0; --i)
      f += static_cast<char>((static_cast<std::uint64_t>(n) >> (8 * i)) & 0xFF);
  }
  if (!mask) return f.append(payload);
  f.append(reinterpret_cast<const char*>(key), 4);
  for (std::size_t i = 0; i < n; ++i)
    f += static_cast<char>(payload[i] ^ static_cast<char>(key[i % 4]));
  return f;
}

/// `n` zero bytes as a permessage-deflate payload (raw DEFLATE, a sync flush, the trailing
/// 00 00 ff ff removed: RFC 7692 §7.2.1): about n/1000 bytes that inflate to n. A bomb.
inline std::string deflate_zeros(std::size_t n) {
  z_stream z{};
  deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY);
  std::string zeros(std::size_t{1} << 20, '\0'), out;
  char buf[1 << 16];
  for (std::size_t done = 0; done < n;) {
    std::size_t take = std::min(zeros.size(), n - done);
    done += take;
    z.next_in = reinterpret_cast<Bytef*>(zeros.data());
    z.avail_in = static_cast<uInt>(take);
    do {
      z.next_out = reinterpret_cast<Bytef*>(buf);
      z.avail_out = sizeof buf;
      deflate(&z, done == n ? Z_SYNC_FLUSH : Z_NO_FLUSH);
      out.append(buf, sizeof buf - z.avail_out);
    } while (z.avail_out == 0);
  }
  deflateEnd(&z);
  return out.substr(0, out.size() - 4);
}

} // namespace lithe::wire
