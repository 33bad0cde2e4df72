// Health: two fixed answers, and the draining flag read on each readiness check.
#include <lithe/mw/health.hpp>

namespace lithe::mw {

Middleware health(HealthOptions options) {
  return [o = std::move(options)](App next) -> App {
    return [o, next = std::move(next)](Env& env) -> Response {
      bool get = env.method() == "GET" || env.method() == "HEAD";
      if (get && env.path() == o.live)
        return {200, {{"Content-Type", "text/plain"}, {"Cache-Control", "no-store"}}, "ok\n"};
      if (get && env.path() == o.ready) {
        if (o.draining && o.draining->load(std::memory_order_acquire))
          return {503,
                  {{"Content-Type", "text/plain"},
                   {"Cache-Control", "no-store"},
                   {"Connection", "close"}},
                  "draining\n"};
        return {200, {{"Content-Type", "text/plain"}, {"Cache-Control", "no-store"}}, "ready\n"};
      }
      return next(env);
    };
  };
}

} // namespace lithe::mw
