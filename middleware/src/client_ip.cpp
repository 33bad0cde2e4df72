// ClientIp: RFC 7239 §4 (Forwarded's grammar), §6 (node names: quoted IPv6 with a port,
// "unknown", obfuscated "_x"), and X-Forwarded-For walked from the right past trusted hops.
#include <lithe/mw/client_ip.hpp>

#include <arpa/inet.h>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace lithe::mw {

namespace {

bool is_tchar(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

bool is_ows(char c) noexcept {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back()))
    s.remove_suffix(1);
  return s;
}

bool all_digits(std::string_view s) noexcept {
  if (s.empty() || s.size() > 5) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// RFC 7239 §6: node-port = port / obfport; obfport = "_" 1*(ALPHA / DIGIT / "." / "_" / "-").
bool valid_port(std::string_view s) noexcept {
  if (all_digits(s)) return true;
  if (s.size() < 2 || s.front() != '_') return false;
  for (char c : s.substr(1))
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-'))
      return false;
  return true;
}

std::string_view known_scheme(std::string_view s) noexcept {
  if (iequals(s, "https")) return "https";
  if (iequals(s, "http")) return "http";
  return {};
}

} // namespace

bool Cidr::contains(const IpBytes& ip) const noexcept {
  int full = bits / 8, rest = bits % 8;
  if (std::memcmp(base.data(), ip.data(), static_cast<std::size_t>(full)) != 0) return false;
  if (rest == 0) return true;
  auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (base[static_cast<std::size_t>(full)] & mask) ==
         (ip[static_cast<std::size_t>(full)] & mask);
}

std::optional<IpBytes> parse_ip(std::string_view text) noexcept {
  char buf[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof buf) return std::nullopt;
  text.copy(buf, text.size());
  buf[text.size()] = '\0';
  IpBytes ip{};
  if (text.find(':') != std::string_view::npos) {
    if (::inet_pton(AF_INET6, buf, ip.data()) != 1) return std::nullopt;
    return ip;
  }
  ip[10] = ip[11] = 0xff;
  if (::inet_pton(AF_INET, buf, ip.data() + 12) != 1) return std::nullopt;
  return ip;
}

std::optional<Cidr> parse_cidr(std::string_view text) noexcept {
  text = trim(text);
  std::size_t slash = text.find('/');
  std::string_view addr = text.substr(0, slash);
  auto ip = parse_ip(addr);
  if (!ip) return std::nullopt;
  const bool v4 = addr.find(':') == std::string_view::npos;
  int bits = 128;
  if (slash != std::string_view::npos) {
    std::string_view b = text.substr(slash + 1);
    if (b.empty() || b.size() > 3 || !all_digits(b)) return std::nullopt;
    int n = 0;
    for (char c : b)
      n = n * 10 + (c - '0');
    if (n > (v4 ? 32 : 128)) return std::nullopt;
    bits = v4 ? 96 + n : n;
  }
  Cidr c{*ip, bits};
  for (int i = bits; i < 128; ++i) // the bits past the prefix do not matter: zero them
    c.base[static_cast<std::size_t>(i / 8)] &= static_cast<std::uint8_t>(~(0x80 >> (i % 8)));
  return c;
}

bool parse_forwarded(std::string_view v, std::vector<ForwardedHop>& out) {
  std::size_t i = 0;
  ForwardedHop hop;
  bool any = false; // the element has a pair
  auto skip_ows = [&] {
    while (i < v.size() && is_ows(v[i]))
      ++i;
  };
  for (;;) {
    skip_ows();
    if (i < v.size() && v[i] != ',' && v[i] != ';') {
      std::size_t name_from = i;
      while (i < v.size() && is_tchar(v[i]))
        ++i;
      std::string_view name = v.substr(name_from, i - name_from);
      if (name.empty() || i >= v.size() || v[i] != '=') return false;
      ++i;
      std::size_t value_from = i;
      if (i < v.size() && v[i] == '"') {
        for (++i;; ++i) {
          if (i >= v.size()) return false;
          if (v[i] == '\\') {
            if (++i >= v.size()) return false;
          } else if (v[i] == '"') {
            ++i;
            break;
          }
        }
      } else {
        while (i < v.size() && is_tchar(v[i]))
          ++i;
        if (i == value_from) return false;
      }
      std::string_view value = v.substr(value_from, i - value_from);
      if (iequals(name, "for")) hop.node = value;
      if (iequals(name, "proto")) hop.proto = value;
      any = true;
      skip_ows();
    }
    if (i >= v.size() || v[i] == ',') {
      if (any) out.push_back(hop);
      hop = {};
      any = false;
      if (i >= v.size()) return true;
      ++i;
    } else if (v[i] == ';') {
      ++i;
    } else {
      return false;
    }
  }
}

std::string_view node_address(std::string_view node) noexcept {
  if (!node.empty() && node.front() == '"') {
    if (node.size() < 2 || node.back() != '"') return {};
    node = node.substr(1, node.size() - 2);
    if (node.find('\\') != std::string_view::npos) return {};
  }
  node = trim(node);
  std::string_view addr = node;
  if (!node.empty() && node.front() == '[') {
    std::size_t close = node.find(']');
    if (close == std::string_view::npos) return {};
    addr = node.substr(1, close - 1);
    std::string_view after = node.substr(close + 1);
    if (addr.find(':') == std::string_view::npos) return {};
    if (!after.empty() && (after.front() != ':' || !valid_port(after.substr(1)))) return {};
  } else if (std::size_t colon = node.find(':');
             colon != std::string_view::npos &&
             node.find(':', colon + 1) == std::string_view::npos) {
    addr = node.substr(0, colon); // IPv4 with a port
    if (!valid_port(node.substr(colon + 1))) return {};
  }
  return parse_ip(addr) ? addr : std::string_view();
}

ClientIpResolver::ClientIpResolver(const ClientIpOptions& options) : o_(options) {
  for (const std::string& t : o_.trusted_proxies) {
    auto c = parse_cidr(t);
    if (!c) throw std::invalid_argument("client_ip: not an address or CIDR block: " + t);
    trusted_.push_back(*c);
  }
  o_.trusted_proxies.clear();
}

bool ClientIpResolver::trusted(std::string_view addr) const noexcept {
  auto ip = parse_ip(addr);
  if (!ip) return false;
  for (const Cidr& c : trusted_)
    if (c.contains(*ip)) return true;
  return false;
}

ClientIpDecision ClientIpResolver::resolve(const Env& env) const {
  if (!trusted(env.remote_addr())) return {};
  const bool xff = o_.header == ForwardedHeader::x_forwarded_for;
  const std::string_view name = xff ? "x-forwarded-for" : "forwarded";
  std::size_t bytes = 0;
  std::vector<ForwardedHop> hops;
  for (const RequestHeader& h : env.headers()) {
    if (!iequals(h.name, name)) continue;
    bytes += h.value.size();
    if (bytes > o_.max_header_bytes) return {};
    if (!xff) {
      if (!parse_forwarded(h.value, hops)) return {};
      continue;
    }
    for (std::string_view rest = h.value; !rest.empty();) {
      std::size_t comma = rest.find(',');
      std::string_view entry = trim(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      if (!entry.empty()) hops.push_back({entry, {}});
    }
  }
  // From the right: the nearest proxy wrote the last hop. Every trusted hop is passed; the first
  // untrusted one is the client. A hop that is not an address ends the walk: nothing is known.
  ClientIpDecision d;
  std::size_t looked = 0;
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    if (++looked > o_.max_hops) return {};
    std::string_view addr = node_address(it->node);
    if (addr.empty()) return {};
    d.addr = addr;
    if (!xff) d.scheme = known_scheme(it->proto);
    if (!trusted(addr)) break; // else, when all are trusted, the left-most stands (as Rack)
  }
  if (d.addr.empty()) return {};
  if (!o_.set_scheme) {
    d.scheme = {};
  } else if (xff) {
    for (const RequestHeader& h : env.headers()) // the right-most value: the nearest proxy's
      if (iequals(h.name, "x-forwarded-proto")) {
        std::string_view v = h.value;
        std::size_t comma = v.rfind(',');
        d.scheme = known_scheme(trim(comma == std::string_view::npos ? v : v.substr(comma + 1)));
      }
  }
  return d;
}

Middleware client_ip(ClientIpOptions options) {
  auto resolver = std::make_shared<const ClientIpResolver>(options);
  return [resolver](App next) -> App {
    return [resolver, next = std::move(next)](Env& env) {
      ClientIpDecision d = resolver->resolve(env);
      if (!d.addr.empty()) {
        std::string_view peer = env.remote_addr();
        env.set("lithe.peer_addr", std::string(peer));
        env.set_remote_addr(env.keep(std::string(d.addr)));
      }
      if (!d.scheme.empty()) env.set_url_scheme(d.scheme); // a literal: "http" or "https"
      return next(env);
    };
  };
}

std::string_view peer_addr(const Env& env) {
  if (auto p = env.find("lithe.peer_addr")) return *p;
  return env.remote_addr();
}

} // namespace lithe::mw
