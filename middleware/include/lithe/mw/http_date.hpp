// HTTP dates (RFC 9110 §5.6.7, IMF-fixdate): what Last-Modified and If-Modified-Since carry.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace lithe::mw {

std::string format_http_date(std::time_t t);
std::optional<std::time_t> parse_http_date(std::string_view s);
/// RFC 9110 §13.1.2: does an If-None-Match list match this ETag (weak comparison, or "*")?
bool etag_matches(std::string_view if_none_match, std::string_view etag);

} // namespace lithe::mw
