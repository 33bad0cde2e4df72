// Head: the body goes, its length stays.
#include <lithe/mw/head.hpp>

namespace lithe::mw {

Middleware head() {
  return [](App next) -> App {
    return [next = std::move(next)](Env& env) {
      Response r = next(env);
      if (env.method() != "HEAD") return r;
      return env.then(std::move(r), [](Env&, Response res) {
        std::optional<std::uint64_t> size = res.body.size();
        if (!size) return res; // a body made over time: the engine discards it
        if (!status_has_no_body(res.status) && !res.headers.has("content-length"))
          res.headers.add("Content-Length", std::to_string(*size));
        res.body = Body();
        return res;
      });
    };
  };
}

} // namespace lithe::mw
