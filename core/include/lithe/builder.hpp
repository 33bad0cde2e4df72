// Builder composes middleware around an app (Rack::Builder): use, run, map. map mounts an
// app under a path prefix with the SCRIPT_NAME/PATH_INFO split of Rack::URLMap (SPEC §8).
#pragma once

#include <lithe/app.hpp>

#include <functional>
#include <string>
#include <vector>

namespace lithe {

class Builder {
public:
  Builder() = default;
  /// Builds with `fn` at once: Builder([](Builder& b) { b.use(...); b.run(...); }).
  explicit Builder(const std::function<void(Builder&)>& fn) { fn(*this); }

  /// Adds a middleware; the first one used is the outermost.
  Builder& use(Middleware mw);
  /// Sets the innermost app (the default app under "/" when maps are present).
  Builder& run(App app);
  /// Mounts the stack built by `fn` under `prefix` ("/api"): requests for /api and /api/...
  /// reach it with SCRIPT_NAME += "/api" and PATH_INFO = the rest. Longest prefix wins.
  Builder& map(std::string prefix, const std::function<void(Builder&)>& fn);

  /// The composed app. Throws std::logic_error if neither run nor map was called.
  App to_app() const;

private:
  std::vector<Middleware> use_;
  App run_;
  std::vector<std::pair<std::string, App>> maps_;
};

/// Rack::URLMap on its own: dispatch by longest path prefix; 404 when nothing matches.
App url_map(std::vector<std::pair<std::string, App>> mounts);

} // namespace lithe
