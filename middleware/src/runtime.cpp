// Runtime: measured on the loop's clock when the response passes on its way out.
#include <lithe/mw/runtime.hpp>

#include <cstdio>

namespace lithe::mw {

Middleware runtime(std::string name) {
  std::string header = name.empty() ? "X-Runtime" : "X-Runtime-" + name;
  return [header](App next) -> App {
    return [header, next = std::move(next)](Env& env) {
      auto start = env.loop().now();
      return env.then(next(env), [header, start](Env& e, Response r) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.6f",
                      std::chrono::duration<double>(e.loop().now() - start).count());
        if (!r.headers.has(header)) r.headers.add(header, buf);
        return r;
      });
    };
  };
}

} // namespace lithe::mw
