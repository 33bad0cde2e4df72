// IMF-fixdate formatting and parsing, and If-None-Match's weak comparison.
#include <lithe/mw/http_date.hpp>

#include <cstring>

namespace lithe::mw {

std::string format_http_date(std::time_t t) {
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

std::optional<std::time_t> parse_http_date(std::string_view s) {
  std::string str(s);
  std::tm tm{};
  const char* end = ::strptime(str.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end || *end != '\0') return std::nullopt;
  return ::timegm(&tm);
}

bool etag_matches(std::string_view list, std::string_view etag) {
  auto opaque = [](std::string_view t) { return t.starts_with("W/") ? t.substr(2) : t; };
  std::string_view mine = opaque(etag);
  while (!list.empty()) {
    std::size_t comma = list.find(',');
    std::string_view t = list.substr(0, comma);
    while (!t.empty() && t.front() == ' ')
      t.remove_prefix(1);
    while (!t.empty() && t.back() == ' ')
      t.remove_suffix(1);
    if (t == "*" || (!t.empty() && opaque(t) == mine)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

} // namespace lithe::mw
