// ContentLength: the engine frames bodies itself; this makes the length visible to the
// middleware outside it (ETag, a logger, a cache) and to MockRequest tests.
#include <lithe/mw/content_length.hpp>

namespace lithe::mw {

Middleware content_length() {
  return [](App next) -> App {
    return [next = std::move(next)](Env& env) {
      return env.then(next(env), [](Env&, Response r) {
        if (status_has_no_body(r.status) || r.headers.has("content-length") ||
            r.headers.has("transfer-encoding"))
          return r;
        if (auto size = r.body.size()) r.headers.add("Content-Length", std::to_string(*size));
        return r;
      });
    };
  };
}

} // namespace lithe::mw
