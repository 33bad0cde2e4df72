// Calling the next app from a callback of the loop (a body gathered, a store's reply), where no
// exception may escape: what the engine does for `call` (SPEC 1.4), for the middleware that
// answer late themselves (session, csrf, rate_limit).
#pragma once

#include <lithe/app.hpp>

#include <exception>
#include <string>

namespace lithe::mw::detail {

inline Response guarded_call(const App& next, Env& env) {
  try {
    return next(env);
  } catch (const std::exception& ex) {
    env.error(std::string("an exception in the app: ") + ex.what());
  } catch (...) {
    env.error("an exception in the app (not a std::exception)");
  }
  return internal_server_error();
}

} // namespace lithe::mw::detail
