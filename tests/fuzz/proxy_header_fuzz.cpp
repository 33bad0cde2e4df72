// Fuzzes the PROXY protocol header parser (core/src/proxy_protocol.cpp, v1 text and v2
// binary) and checks what the connection layer relies on: a header is never longer than the
// input or max_proxy_header, its source is a valid address, "need more" only below the bound,
// and the bytes arriving in pieces give the same answer as arriving whole.
#include <lithe/proxy_protocol.hpp>

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  lithe::ProxyHeader h;
  auto r = lithe::parse_proxy_header(in, h);
  using R = lithe::ProxyHeader::Result;
  if (r == R::need_more && size >= lithe::max_proxy_header) __builtin_trap();
  if (r != R::done) {
    // Parsing looks no further than the header: a prefix of input that is no header yet
    // (or never will be) is no header either, and a prefix of "need more" needs more too.
    for (std::size_t k = 0; k < size && k < 256; k += 5) {
      lithe::ProxyHeader p;
      auto pr = lithe::parse_proxy_header(in.substr(0, k), p);
      if (pr == R::done || (r == R::need_more && pr != R::need_more)) __builtin_trap();
    }
    return 0;
  }
  if (h.length == 0 || h.length > size || h.length > lithe::max_proxy_header) __builtin_trap();
  if (h.local != (h.source_len == 0)) __builtin_trap();
  if (h.source_len) {
    if (h.source_len >= sizeof h.source || h.source[h.source_len] != '\0') __builtin_trap();
    unsigned char bin[16];
    if (::inet_pton(std::memchr(h.source, ':', h.source_len) ? AF_INET6 : AF_INET, h.source, bin) !=
        1)
      __builtin_trap();
  }
  // What follows the header does not change it, and a cut before its end asks for more.
  lithe::ProxyHeader p;
  if (lithe::parse_proxy_header(in.substr(0, h.length), p) != R::done || p.length != h.length ||
      p.source_port != h.source_port || std::strcmp(p.source, h.source) != 0)
    __builtin_trap();
  if (h.length > 1 && lithe::parse_proxy_header(in.substr(0, h.length - 1), p) != R::need_more)
    __builtin_trap();
  return 0;
}
