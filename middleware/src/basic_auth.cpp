// BasicAuth: RFC 7617 §2 (the scheme, user-pass, no control characters), RFC 4648 §4 (base64,
// decoded strictly), RFC 7235 §3.1 (401 with WWW-Authenticate).
#include <lithe/mw/basic_auth.hpp>

#include <array>
#include <memory>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdexcept>

namespace lithe::mw {

namespace {

int base64_value(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

/// Strict: groups of four, '=' only as the last one or two characters.
bool base64_decode(std::string_view in, std::string& out) {
  if (in.size() % 4 != 0) return false;
  out.clear();
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = in[i + static_cast<std::size_t>(k)];
      if (c == '=' && last && k >= 2) {
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad > 0) return false; // data after padding
      v[k] = base64_value(c);
      if (v[k] < 0) return false;
    }
    std::uint32_t n = static_cast<std::uint32_t>(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
    out += static_cast<char>(n >> 16 & 0xff);
    if (pad < 2) out += static_cast<char>(n >> 8 & 0xff);
    if (pad < 1) out += static_cast<char>(n & 0xff);
  }
  return true;
}

bool has_control(std::string_view s) noexcept {
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  return false;
}

using Digest = std::array<unsigned char, 64>; // SHA-256 of the user, then of the password

Digest digest(std::string_view user, std::string_view password) {
  Digest d{};
  EVP_Digest(user.data(), user.size(), d.data(), nullptr, EVP_sha256(), nullptr);
  EVP_Digest(password.data(), password.size(), d.data() + 32, nullptr, EVP_sha256(), nullptr);
  return d;
}

std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) out += c;
  }
  return out + '"';
}

struct Config {
  std::function<bool(std::string_view, std::string_view)> check;
  std::vector<Digest> users;
  std::string challenge;
  std::size_t max_header_bytes;
};

} // namespace

std::string_view to_string(BasicParse p) noexcept {
  switch (p) {
  case BasicParse::ok:
    return "ok";
  case BasicParse::not_basic:
    return "no Basic credentials";
  case BasicParse::too_large:
    return "Authorization header too large";
  case BasicParse::bad_base64:
    return "Basic credentials are not base64";
  case BasicParse::no_colon:
    return "Basic credentials have no ':' between user and password";
  case BasicParse::control:
    return "control character in Basic credentials";
  }
  return "?";
}

BasicParse parse_basic(std::string_view h, BasicCredentials& out, std::size_t max) {
  if (h.size() > max) return BasicParse::too_large;
  while (!h.empty() && (h.front() == ' ' || h.front() == '\t'))
    h.remove_prefix(1);
  while (!h.empty() && (h.back() == ' ' || h.back() == '\t'))
    h.remove_suffix(1);
  std::size_t space = h.find_first_of(" \t");
  if (space == std::string_view::npos || !iequals(h.substr(0, space), "basic"))
    return BasicParse::not_basic;
  std::string_view token = h.substr(space);
  while (!token.empty() && (token.front() == ' ' || token.front() == '\t'))
    token.remove_prefix(1);
  std::string decoded;
  if (!base64_decode(token, decoded)) return BasicParse::bad_base64;
  std::size_t colon = decoded.find(':');
  if (colon == std::string::npos) return BasicParse::no_colon;
  if (has_control(decoded)) return BasicParse::control;
  out.user = decoded.substr(0, colon);
  out.password = decoded.substr(colon + 1);
  return BasicParse::ok;
}

Middleware basic_auth(BasicAuthOptions o) {
  if (!o.check && o.users.empty())
    throw std::invalid_argument("basic_auth: give a check function or a list of users");
  auto c = std::make_shared<Config>();
  c->check = std::move(o.check);
  for (const auto& [user, password] : o.users)
    c->users.push_back(digest(user, password));
  c->challenge = "Basic realm=" + quoted(o.realm) + ", charset=\"UTF-8\"";
  c->max_header_bytes = o.max_header_bytes;
  return [c = std::shared_ptr<const Config>(std::move(c))](App next) -> App {
    return [c, next = std::move(next)](Env& env) -> Response {
      BasicCredentials cred;
      BasicParse p = BasicParse::not_basic;
      if (auto h = env.header("authorization")) p = parse_basic(*h, cred, c->max_header_bytes);
      if (p != BasicParse::ok && p != BasicParse::not_basic)
        return {400,
                {{"Content-Type", "text/plain"}},
                "Bad Request: " + std::string(to_string(p)) + "\n"};
      bool ok = false;
      if (p == BasicParse::ok) {
        if (c->check) {
          ok = c->check(cred.user, cred.password);
        } else {
          Digest d = digest(cred.user, cred.password);
          int hits = 0; // every entry compared, whatever matched: the time says nothing
          for (const Digest& u : c->users)
            hits |= CRYPTO_memcmp(u.data(), d.data(), d.size()) == 0;
          ok = hits != 0;
        }
      }
      if (!ok)
        return {401,
                {{"Content-Type", "text/plain"}, {"WWW-Authenticate", c->challenge}},
                "Unauthorized\n"};
      env.set("REMOTE_USER", std::move(cred.user));
      return next(env);
    };
  };
}

std::string_view remote_user(const Env& env) {
  return env["REMOTE_USER"];
}

} // namespace lithe::mw
