// ConditionalGet (Rack::ConditionalGet): a GET or HEAD whose If-None-Match matches the
// response's ETag, or whose If-Modified-Since is not older than its Last-Modified, is
// answered 304 Not Modified with no body (RFC 9110 §13.1.2, §13.1.3).
#pragma once

#include <lithe/app.hpp>

namespace lithe::mw {

Middleware conditional_get();

} // namespace lithe::mw
