// An application is a callable from the request env to the response triple (SPEC §1):
// Rack's app.call(env) -> [status, headers, body]. A middleware maps an app to an app.
#pragma once

#include <lithe/env.hpp>
#include <lithe/response.hpp>

#include <functional>

namespace lithe {

using App = std::function<Response(Env&)>;
using Middleware = std::function<App(App)>;

} // namespace lithe
