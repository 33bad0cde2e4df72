// permessage-deflate with zlib: raw streams (negative windowBits), one per direction.
#include <lithe/mw/ws_deflate.hpp>

#include "zlib_stream.hpp"

#include <lithe/str.hpp>

#include <zlib.h>

namespace lithe::mw::ws {

namespace {
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}
} // namespace

std::optional<DeflateParams> negotiate_deflate(std::string_view header) {
  while (!header.empty()) {
    std::size_t comma = header.find(',');
    std::string_view offer = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    std::size_t semi = offer.find(';');
    if (trim(offer.substr(0, semi)) != "permessage-deflate") continue;
    DeflateParams p;
    bool ok = true;
    std::string_view params = semi == std::string_view::npos ? "" : offer.substr(semi + 1);
    while (ok && !params.empty()) {
      std::size_t sc = params.find(';');
      std::string_view param = trim(params.substr(0, sc));
      params = sc == std::string_view::npos ? std::string_view{} : params.substr(sc + 1);
      std::size_t eq = param.find('=');
      std::string_view name = trim(param.substr(0, eq));
      std::string_view value = eq == std::string_view::npos ? "" : trim(param.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"') value = value.substr(1, value.size() - 2);
      auto bits = [&](int& out) {
        auto n = parse_u64(value);
        if (!n || *n < 8 || *n > 15) return false;
        out = *n == 8 ? 9 : static_cast<int>(*n); // zlib cannot make 8-bit windows
        return true;
      };
      if (name == "server_no_context_takeover" && value.empty())
        p.server_no_context_takeover = true;
      else if (name == "client_no_context_takeover" && value.empty())
        p.client_no_context_takeover = true;
      else if (name == "server_max_window_bits")
        ok = bits(p.server_max_window_bits);
      else if (name == "client_max_window_bits")
        ok = value.empty() || bits(p.client_max_window_bits);
      else
        ok = false; // an unknown parameter: decline this offer (§7.1)
    }
    if (ok) return p;
  }
  return std::nullopt;
}

std::string deflate_response(const DeflateParams& p) {
  std::string out = "permessage-deflate";
  if (p.server_no_context_takeover) out += "; server_no_context_takeover";
  if (p.client_no_context_takeover) out += "; client_no_context_takeover";
  if (p.server_max_window_bits != 15)
    out += "; server_max_window_bits=" + std::to_string(p.server_max_window_bits);
  return out;
}

struct PerMessageDeflate::Streams {
  z_stream out{}, in{};
};

PerMessageDeflate::PerMessageDeflate(const DeflateParams& p) : z_(new Streams), p_(p) {
  deflateInit2(&z_->out, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -p.server_max_window_bits, 8,
               Z_DEFAULT_STRATEGY);
  inflateInit2(&z_->in, -15); // any window the client uses fits
}

PerMessageDeflate::~PerMessageDeflate() {
  deflateEnd(&z_->out);
  inflateEnd(&z_->in);
}

std::string PerMessageDeflate::compress(std::string_view message) {
  std::string out;
  detail::deflate_into(z_->out, message, Z_SYNC_FLUSH, out);
  if (out.size() >= 4 && out.compare(out.size() - 4, 4, std::string_view("\0\0\xff\xff", 4)) == 0)
    out.resize(out.size() - 4); // §7.2.1: the sync flush's empty block is implied
  if (p_.server_no_context_takeover) deflateReset(&z_->out);
  return out;
}

std::optional<std::string> PerMessageDeflate::decompress(std::string_view payload,
                                                         std::size_t limit, bool& too_big) {
  too_big = false;
  z_stream& z = z_->in;
  std::string in(payload);
  in.append("\0\0\xff\xff", 4); // §7.2.2
  z.next_in = reinterpret_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char buf[16384];
  while (z.avail_in > 0) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    int rc = inflate(&z, Z_SYNC_FLUSH);
    if (rc != Z_OK && rc != Z_BUF_ERROR && rc != Z_STREAM_END) return std::nullopt;
    out.append(buf, sizeof buf - z.avail_out);
    if (out.size() > limit) {
      too_big = true;
      return std::nullopt;
    }
    if (rc == Z_BUF_ERROR && z.avail_out != 0) break;
  }
  if (p_.client_no_context_takeover) inflateReset(&z);
  return out;
}

} // namespace lithe::mw::ws
