// Cookie headers read within the request's bounds, and Set-Cookie written only from parts that
// cannot split or extend the header (RFC 6265 §4.1.1).
#include <lithe/mw/cookies.hpp>
#include <lithe/mw/http_date.hpp>

#include <algorithm>

namespace lithe::mw {

namespace {

/// Calls fn(header value) for each Cookie header, within the byte bound.
template <class F> void each_cookie_header(const Env& env, const CookieLimits& limits, F&& fn) {
  std::size_t bytes = 0, seen = 0;
  for (const RequestHeader& h : env.headers()) {
    if (!iequals(h.name, "cookie")) continue;
    bytes += h.value.size();
    if (bytes > limits.max_bytes || seen >= limits.max_cookies) return;
    std::size_t n = 0;
    if (!fn(h.value, limits.max_cookies - seen, n)) return;
    seen += n;
  }
}

bool is_cookie_octet(unsigned char c) noexcept {
  return c == 0x21 || (c >= 0x23 && c <= 0x2B) || (c >= 0x2D && c <= 0x3A) ||
         (c >= 0x3C && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
}

bool valid_value(std::string_view v) noexcept {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  return std::all_of(v.begin(), v.end(),
                     [](char c) { return is_cookie_octet(static_cast<unsigned char>(c)); });
}

bool valid_path(std::string_view v) noexcept {
  return std::all_of(v.begin(), v.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u != 0x7F && c != ';';
  });
}

bool valid_domain(std::string_view v) noexcept {
  if (v.starts_with('.')) v.remove_prefix(1); // a leading dot is ignored (RFC 6265 §5.2.3)
  return !v.empty() && v.size() <= 253 && std::all_of(v.begin(), v.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.';
  });
}

} // namespace

bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

std::vector<Cookie> cookies(const Env& env, CookieLimits limits) {
  std::vector<Cookie> out;
  each_cookie_header(env, limits, [&](std::string_view h, std::size_t room, std::size_t& n) {
    n = for_each_cookie(h, room, [&](Cookie c) {
      out.push_back(c);
      return true;
    });
    return true;
  });
  return out;
}

std::optional<std::string_view> cookie(const Env& env, std::string_view name, CookieLimits limits) {
  std::optional<std::string_view> found;
  each_cookie_header(env, limits, [&](std::string_view h, std::size_t room, std::size_t& n) {
    n = for_each_cookie(h, room, [&](Cookie c) {
      if (c.name == name) found = c.value;
      return !found;
    });
    return !found;
  });
  return found;
}

std::string_view to_string(CookieError e) noexcept {
  switch (e) {
  case CookieError::none:
    return "none";
  case CookieError::bad_name:
    return "the cookie name is not a token";
  case CookieError::bad_value:
    return "the cookie value holds a character cookies cannot carry";
  case CookieError::bad_path:
    return "the cookie path holds a control character or ';'";
  case CookieError::bad_domain:
    return "the cookie domain is not a host name";
  case CookieError::same_site_none_needs_secure:
    return "SameSite=None needs Secure";
  case CookieError::too_large:
    return "the cookie is over 4096 bytes";
  }
  return "unknown";
}

CookieError format_set_cookie(const SetCookie& c, std::string& out) {
  if (!is_token(c.name)) return CookieError::bad_name;
  if (!valid_value(c.value)) return CookieError::bad_value;
  if (!valid_path(c.path)) return CookieError::bad_path;
  if (!c.domain.empty() && !valid_domain(c.domain)) return CookieError::bad_domain;
  if (c.same_site == SameSite::none && !c.secure) return CookieError::same_site_none_needs_secure;
  std::string s;
  s.reserve(c.name.size() + c.value.size() + c.path.size() + c.domain.size() + 96);
  s.append(c.name).append("=").append(c.value);
  if (!c.path.empty()) s.append("; Path=").append(c.path);
  if (!c.domain.empty()) s.append("; Domain=").append(c.domain);
  if (c.max_age)
    s.append("; Max-Age=").append(std::to_string(std::max<std::int64_t>(0, *c.max_age)));
  if (c.expires) s.append("; Expires=").append(format_http_date(*c.expires));
  if (c.secure) s.append("; Secure");
  if (c.http_only) s.append("; HttpOnly");
  switch (c.same_site) {
  case SameSite::unset:
    break;
  case SameSite::strict:
    s.append("; SameSite=Strict");
    break;
  case SameSite::lax:
    s.append("; SameSite=Lax");
    break;
  case SameSite::none:
    s.append("; SameSite=None");
    break;
  }
  if (s.size() > 4096) return CookieError::too_large;
  out = std::move(s);
  return CookieError::none;
}

CookieError add_cookie(Headers& headers, const SetCookie& c) {
  std::string v;
  CookieError e = format_set_cookie(c, v);
  if (e == CookieError::none) headers.add("Set-Cookie", std::move(v));
  return e;
}

CookieError delete_cookie(Headers& headers, std::string_view name, std::string_view path,
                          std::string_view domain) {
  return add_cookie(headers, {.name = std::string(name),
                              .path = std::string(path),
                              .domain = std::string(domain),
                              .max_age = 0,
                              .expires = std::time_t(0)});
}

} // namespace lithe::mw
