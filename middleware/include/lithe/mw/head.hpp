// Head (Rack::Head): a HEAD request gets the GET's status and headers and no body. The
// engine already sends no body for HEAD; this middleware makes the stack itself honour it
// (Content-Length kept where known), for MockRequest and for middleware outside it.
#pragma once

#include <lithe/app.hpp>

namespace lithe::mw {

Middleware head();

} // namespace lithe::mw
