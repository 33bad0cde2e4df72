// ClientIp: the real client address behind trusted reverse proxies (docs/client_ip.md).
// REMOTE_ADDR is replaced from Forwarded (RFC 7239) or X-Forwarded-For only when the peer is a
// configured trusted proxy, walking the chain from the right past trusted hops (the right-most
// untrusted address is the client's); headers from anyone else are ignored.
#pragma once

#include <lithe/app.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lithe::mw {

/// An address as 16 bytes: IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d), so one match covers both.
using IpBytes = std::array<std::uint8_t, 16>;

/// An address block: "10.0.0.0/8", "2001:db8::/32", "::ffff:10.0.0.0/104", or one address.
struct Cidr {
  IpBytes base{};
  int bits = 0; // of the 128
  bool contains(const IpBytes& ip) const noexcept;
};

/// A bare address ("192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1"); nullopt for anything else
/// (ports, brackets, zones, names).
std::optional<IpBytes> parse_ip(std::string_view text) noexcept;
/// A block; nullopt when malformed (bits past the family's width, a bad address).
std::optional<Cidr> parse_cidr(std::string_view text) noexcept;

/// One hop a proxy reported: the address text as it came (a node: "192.0.2.1",
/// "[2001:db8::1]:4711", "unknown", "_hidden") and the protocol it was reached by ("" when not
/// given).
struct ForwardedHop {
  std::string_view node;
  std::string_view proto;
};
/// Appends the elements of one Forwarded field value (RFC 7239 §4) to `out` (views into
/// `value`); false when the value is malformed (then what `out` got from it is unreliable).
bool parse_forwarded(std::string_view value, std::vector<ForwardedHop>& out);
/// The address in a node ("[2001:db8::1]:4711" -> "2001:db8::1", "192.0.2.1:80" ->
/// "192.0.2.1", quotes removed); "" for unknown, obfuscated or malformed nodes.
std::string_view node_address(std::string_view node) noexcept;

/// The one header the proxies in front write. Only that one is read: a proxy passes on the
/// headers it does not manage, forged or not.
enum class ForwardedHeader : std::uint8_t {
  x_forwarded_for, // X-Forwarded-For (and X-Forwarded-Proto): nginx, haproxy's forwardfor
  forwarded,       // RFC 7239 Forwarded (for=, proto=): haproxy's option forwarded
};

struct ClientIpOptions {
  /// The proxies whose headers are believed: CIDR blocks, IPv4 and IPv6.
  std::vector<std::string> trusted_proxies = {"127.0.0.0/8", "::1/128"};
  ForwardedHeader header = ForwardedHeader::x_forwarded_for;
  /// Also take lithe.url_scheme from X-Forwarded-Proto or the client's proto= (http or https).
  bool set_scheme = false;
  std::size_t max_hops = 64;           // hops looked at, from the right
  std::size_t max_header_bytes = 8192; // a longer Forwarded or X-Forwarded-For is ignored
};

/// Throws std::invalid_argument for a malformed trusted_proxies entry (at construction only).
Middleware client_ip(ClientIpOptions options = {});

/// The address of the connection's peer, as it was before client_ip replaced REMOTE_ADDR.
std::string_view peer_addr(const Env& env);

/// The address the request came from as `options` decide it: the peer, or the right-most
/// untrusted hop of the forwarded chain when the peer is trusted. A view into `env`'s headers or
/// remote address. For the middleware and its fuzz target.
struct ClientIpDecision {
  std::string_view addr;   // "" when the peer's address stands
  std::string_view scheme; // "" when it stays
};
class ClientIpResolver {
public:
  explicit ClientIpResolver(const ClientIpOptions& options);
  bool trusted(std::string_view addr) const noexcept;
  ClientIpDecision resolve(const Env& env) const;

private:
  std::vector<Cidr> trusted_;
  ClientIpOptions o_;
};

} // namespace lithe::mw
