// ContentLength (Rack::ContentLength): sets Content-Length where the body's size is known
// and the status allows a body, also on late responses (through env.then, SPEC 6.1).
#pragma once

#include <lithe/app.hpp>

namespace lithe::mw {

Middleware content_length();

} // namespace lithe::mw
