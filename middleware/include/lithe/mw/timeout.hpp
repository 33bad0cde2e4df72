// Timeout: a late response that has not come within `limit` becomes 503 Service Unavailable,
// and the app's env.on_close hooks run with CloseReason::timeout so it stops its work
// (env.abandon, SPEC 6.5). Immediate responses pass untouched.
#pragma once

#include <lithe/app.hpp>

namespace lithe::mw {

Middleware timeout(Millis limit);

} // namespace lithe::mw
