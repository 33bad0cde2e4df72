// Timeout: one timer per late request, cancelled when the answer comes in time.
#include <lithe/mw/timeout.hpp>

#include <memory>

namespace lithe::mw {

Middleware timeout(Millis limit) {
  return [limit](App next) -> App {
    return [limit, next = std::move(next)](Env& env) -> Response {
      Response r = next(env);
      if (!r.is_async()) return r;
      Loop& loop = env.loop();
      Env* e = &env; // valid until the exchange ends; the timer is cancelled before that
      TimerId t = loop.add_timer(limit, [e] {
        e->abandon(CloseReason::timeout, {503,
                                          {{"Content-Type", "text/plain"}, {"Retry-After", "1"}},
                                          "Service Unavailable: the answer took too long\n"});
      });
      env.on_finished([&loop, t](Env&, const Outcome&) { loop.cancel_timer(t); });
      return r;
    };
  };
}

} // namespace lithe::mw
