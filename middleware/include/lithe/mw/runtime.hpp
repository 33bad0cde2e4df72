// Runtime (Rack::Runtime): an X-Runtime header with the seconds from the request's head to
// the response (for a late response, to its arrival).
#pragma once

#include <lithe/app.hpp>

#include <string>

namespace lithe::mw {

/// `name` makes the header X-Runtime-<name>, to time several layers.
Middleware runtime(std::string name = {});

} // namespace lithe::mw
