// Cookies: the request's Cookie headers read as views (RFC 6265 §5.4, the cookie-string of
// §4.2.1), and Set-Cookie headers built from an aggregate that refuses what would break the
// header (RFC 6265 §4.1.1, with SameSite from RFC 6265bis). docs/cookies.md.
#pragma once

#include <lithe/env.hpp>
#include <lithe/headers.hpp>

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lithe::mw {

/// One cookie of a request: views into the request's Cookie header, valid as long as the
/// request (SPEC 2.9). The value is as the client sent it, without surrounding quotes and
/// without percent-decoding.
struct Cookie {
  std::string_view name;
  std::string_view value;
};

/// What the parser reads of a request, at most: cookies past the count, and Cookie headers past
/// the byte bound (summed over every Cookie header), are ignored.
struct CookieLimits {
  std::size_t max_cookies = 256;
  std::size_t max_bytes = 16 * 1024;
};

/// Splits one Cookie header value ("a=1; b=2") and calls `fn(Cookie)` for each well-formed
/// pair, in order, until `fn` returns false or `max` pairs were seen. Pairs without '=' or with
/// an empty name are skipped; whitespace around names and values is dropped. Returns the
/// number of pairs seen (skipped ones included), so callers can bound a whole request.
template <class F> std::size_t for_each_cookie(std::string_view header, std::size_t max, F&& fn);

/// Every cookie of the request, in order, duplicates kept (the first of a name is the one
/// RFC 6265 §5.4 says is most specific). Several Cookie headers are read in arrival order.
std::vector<Cookie> cookies(const Env& env, CookieLimits limits = {});
/// The first cookie named `name`, without allocating.
std::optional<std::string_view> cookie(const Env& env, std::string_view name,
                                       CookieLimits limits = {});

enum class SameSite : std::uint8_t { unset, strict, lax, none };

/// A Set-Cookie header, as an aggregate:
///   mw::add_cookie(r.headers, {.name = "theme", .value = "dark", .path = "/", .max_age = 3600});
struct SetCookie {
  std::string name;                    // a token (RFC 9110 §5.6.2)
  std::string value;                   // cookie-octets: no CTLs, whitespace, '"', ',', ';' or '\\'
  std::string path;                    // no CTLs and no ';'; "" leaves it out
  std::string domain;                  // letters, digits, '-' and '.'; "" leaves it out (host-only)
  std::optional<std::int64_t> max_age; // seconds; 0 or less deletes the cookie
  std::optional<std::time_t> expires;  // formatted as an IMF-fixdate (http_date.hpp)
  bool secure = false;
  bool http_only = false;
  SameSite same_site = SameSite::unset;
};

/// Why a SetCookie was refused. Nothing is written for a refused cookie.
enum class CookieError : std::uint8_t {
  none,
  bad_name,
  bad_value,
  bad_path,
  bad_domain,
  same_site_none_needs_secure, // browsers drop SameSite=None without Secure
  too_large,                   // over 4096 bytes of name, value and attributes (RFC 6265 §6.1)
};
std::string_view to_string(CookieError e) noexcept;

/// The Set-Cookie header's value, or the error.
CookieError format_set_cookie(const SetCookie& c, std::string& out);
/// Appends a Set-Cookie header (Set-Cookie repeats, one per cookie). Returns the error, if any,
/// and then appends nothing.
CookieError add_cookie(Headers& headers, const SetCookie& c);
/// Appends a Set-Cookie that makes the browser forget `name` (Max-Age=0 and an Expires in the
/// past); path and domain must match those it was set with.
CookieError delete_cookie(Headers& headers, std::string_view name, std::string_view path = "/",
                          std::string_view domain = "");

/// RFC 9110 §5.6.2 tchar.
bool is_token(std::string_view s) noexcept;

template <class F> std::size_t for_each_cookie(std::string_view h, std::size_t max, F&& fn) {
  std::size_t seen = 0;
  while (!h.empty() && seen < max) {
    std::size_t semi = h.find(';');
    std::string_view pair = h.substr(0, semi);
    h = semi == std::string_view::npos ? std::string_view() : h.substr(semi + 1);
    pair = trim_ows(pair);
    if (pair.empty()) continue;
    ++seen;
    std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view name = trim_ows(pair.substr(0, eq)), value = trim_ows(pair.substr(eq + 1));
    if (name.empty()) continue;
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    if (!fn(Cookie{name, value})) break;
  }
  return seen;
}

} // namespace lithe::mw
