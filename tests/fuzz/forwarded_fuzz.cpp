// Fuzzes the client address behind proxies (docs/client_ip.md): Forwarded and X-Forwarded-For
// parsing, node names and CIDR matching, through the middleware on a MockRequest. REMOTE_ADDR
// must end as the peer's address or an address written in the headers, and an untrusted peer's
// headers must change nothing.
#include "fuzz_input.hpp"

#include <lithe/lithe.hpp>
#include <lithe/mw/client_ip.hpp>

#include <string>
#include <vector>

namespace {

using namespace lithe;

[[noreturn]] void broken() {
  __builtin_trap();
}

} // namespace

// Input: flags, then lines: the peer's address, a CIDR block, and header values.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  lithe::fuzz::FuzzInput in(data, size);
  std::uint8_t flags = in.byte();
  std::string peer(in.take_until('\n'));
  std::string_view block = in.take_until('\n');

  // The pieces on their own.
  auto cidr = mw::parse_cidr(block);
  if (cidr && (cidr->bits < 0 || cidr->bits > 128)) broken();
  auto ip = mw::parse_ip(peer);
  if (cidr && ip && cidr->bits == 128 && cidr->contains(*ip) != (cidr->base == *ip)) broken();
  std::vector<mw::ForwardedHop> hops;
  std::string all(in.rest());
  (void)mw::parse_forwarded(all, hops);
  for (const mw::ForwardedHop& h : hops) {
    std::string_view a = mw::node_address(h.node);
    if (!a.empty() && (!mw::parse_ip(a) || h.node.find(a) == std::string_view::npos)) broken();
  }

  // Through the middleware: the block (if valid) and 10/8 trusted.
  mw::ClientIpOptions o{.trusted_proxies = {"10.0.0.0/8"}};
  if (cidr) o.trusted_proxies.emplace_back(block);
  o.header = (flags & 1) ? mw::ForwardedHeader::forwarded : mw::ForwardedHeader::x_forwarded_for;
  o.set_scheme = flags & 2;
  o.max_hops = 1 + (flags >> 4);
  MockOptions mo;
  mo.remote_addr = lithe::fuzz::header_value(peer);
  if (mo.remote_addr.empty()) mo.remote_addr = "10.0.0.1";
  const char* name = (flags & 1) ? "Forwarded" : "X-Forwarded-For";
  for (std::string_view rest = all; !rest.empty();) {
    std::size_t nl = rest.find('\n');
    mo.headers.emplace_back((flags & 4) && nl != std::string_view::npos ? "X-Forwarded-Proto"
                                                                        : name,
                            lithe::fuzz::header_value(rest.substr(0, nl)));
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  }
  std::string addr, scheme, peer_seen;
  App app = mw::client_ip(o)([&](Env& env) -> Response {
    addr = env.remote_addr();
    scheme = env.url_scheme();
    peer_seen = mw::peer_addr(env);
    return {200, {}, "x"};
  });
  mw::ClientIpResolver resolver(o);
  MockRequest(app).get("/", mo);
  if ((scheme != "http" && scheme != "https") || peer_seen != mo.remote_addr) broken();
  if (!resolver.trusted(mo.remote_addr)) {
    if (addr != mo.remote_addr || scheme != "http") broken();
  } else if (addr != mo.remote_addr) {
    bool written = false;
    for (const auto& [n, v] : mo.headers)
      written = written || v.find(addr) != std::string::npos;
    if (!mw::parse_ip(addr) || !written) broken();
  }
  return 0;
}
