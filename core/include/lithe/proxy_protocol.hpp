// The PROXY protocol (HAProxy's, versions 1 and 2) on a listener: a balancer in front tells
// the server the client's address in a header before the connection's first byte, and
// REMOTE_ADDR becomes that address (SPEC 10.4; docs/proxy_protocol.md). Only for listeners
// that nothing but the balancer can reach: anyone who can connect can claim any address.
#pragma once

#include <lithe/transport.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace lithe {

/// What a PROXY header says.
struct ProxyHeader {
  enum class Result : std::uint8_t { need_more, done, bad };
  bool local = false;   // v1 UNKNOWN, v2 LOCAL: no address given, the connection's own counts
  char source[48] = {}; // the client's address as text ("203.0.113.7", "2001:db8::1")
  std::uint8_t source_len = 0;
  std::uint16_t source_port = 0;
  std::size_t length = 0; // bytes of the header (what follows is the client's)
};

/// The largest header accepted: a v1 line is at most 107 bytes; a v2 header's TLVs (which are
/// skipped) may take it to this.
constexpr std::size_t max_proxy_header = 4096;

/// Parses a PROXY header at the start of `in` (v1 text or v2 binary): done (with `out.length`
/// the bytes it took), need_more (a prefix of a valid header; at most max_proxy_header), or
/// bad (anything else, including a connection that does not start with one).
ProxyHeader::Result parse_proxy_header(std::string_view in, ProxyHeader& out) noexcept;

/// Wraps a service so that each connection must start with a PROXY header: its source address
/// is what the inner service's peer_address() reports; a connection without a valid header is
/// closed before the inner service sees a byte of it.
ServiceFactory proxy_protocol_service(ServiceFactory inner);

} // namespace lithe
