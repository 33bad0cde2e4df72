// co_respond: a coroutine handler on top of the async sentinel (SPEC §5.7).
#include <lithe/co.hpp>

#include <lithe/log.hpp>

#include <memory>
#include <string>

namespace lithe {

namespace {

/// A coroutine handler that suspended: its frame, its context and the callback its response
/// goes to. Holds itself (`self`) until the coroutine ends or is cancelled.
struct CoRun {
  explicit CoRun(Co<Response> c) : co(std::move(c)) {}
  detail::CoContext ctx;
  Co<Response> co;
  AsyncCallback respond;
  std::shared_ptr<CoRun> self;
};

Response outcome(Co<Response>& co) {
  try {
    return co.handle().promise().take();
  } catch (const std::exception& e) {
    log_error(std::string("a coroutine handler failed after suspending: ") + e.what() +
              "; answering 500");
  } catch (...) {
    log_error("a coroutine handler failed after suspending (not a std::exception); "
              "answering 500");
  }
  return internal_server_error();
}

// At the top-level coroutine's final suspension: the frame is destroyed here, then the
// response goes out (nothing touches the frame after).
void ended(void* arg) {
  auto* run = static_cast<CoRun*>(arg);
  Response r = outcome(run->co);
  AsyncCallback respond = std::move(run->respond);
  run->self.reset(); // frees the run and the frame: `run` is not touched after this
  respond(std::move(r));
}

} // namespace

Response co_respond(Env& env, Co<Response> co) {
  auto run = std::make_shared<CoRun>(std::move(co));
  auto h = run->co.handle();
  run->ctx.loop = &env.loop();
  h.promise().ctx = &run->ctx;
  h.resume();
  if (h.done()) return h.promise().take(); // answered without waiting
  run->respond = env.async_callback();
  h.promise().on_end = &ended;
  h.promise().on_end_arg = run.get();
  run->self = run;
  env.on_close([weak = std::weak_ptr<CoRun>(run)](CloseReason) {
    std::shared_ptr<CoRun> r = weak.lock();
    if (!r || !r->ctx.cancel) return; // ended, or in a foreign awaitable: it runs on
    Task cancel = std::move(r->ctx.cancel);
    cancel();
    r->self.reset(); // the frame goes with the last reference, at the end of this scope
  });
  return async;
}

} // namespace lithe
