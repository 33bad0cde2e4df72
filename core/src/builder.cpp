// Builder and URLMap (SPEC §8).
#include <lithe/builder.hpp>

#include <algorithm>
#include <stdexcept>

namespace lithe {

namespace {

std::string normalize_prefix(std::string p) {
  while (!p.empty() && p.back() == '/')
    p.pop_back();
  if (!p.empty() && p.front() != '/') p.insert(p.begin(), '/');
  return p;
}

} // namespace

App url_map(std::vector<std::pair<std::string, App>> mounts) {
  for (auto& [prefix, app] : mounts)
    prefix = normalize_prefix(std::move(prefix));
  std::stable_sort(mounts.begin(), mounts.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  return [mounts = std::move(mounts)](Env& env) -> Response {
    const std::string_view script = env.script_name(), path = env.path();
    for (const auto& [prefix, app] : mounts) {
      if (!path.starts_with(prefix)) continue;
      if (path.size() != prefix.size() && path[prefix.size()] != '/') continue;
      // SCRIPT_NAME grows by the prefix. Both are views of the request target, usually
      // adjacent, so the longer SCRIPT_NAME is a view too; otherwise the env keeps a copy.
      std::string_view new_script;
      if (script.empty())
        new_script = path.substr(0, prefix.size());
      else if (script.data() + script.size() == path.data())
        new_script = std::string_view(script.data(), script.size() + prefix.size());
      else
        new_script = env.keep(std::string(script) + prefix);
      env.set_script_name(new_script);
      env.set_path(path.substr(prefix.size()));
      Response r = app(env);
      env.set_script_name(script);
      env.set_path(path);
      return r;
    }
    std::string msg = "Not Found: ";
    msg.append(path);
    msg.push_back('\n');
    return Response(404, {{"Content-Type", "text/plain"}, {"X-Cascade", "pass"}}, std::move(msg));
  };
}

Builder& Builder::use(Middleware mw) {
  use_.push_back(std::move(mw));
  return *this;
}

Builder& Builder::run(App app) {
  run_ = std::move(app);
  return *this;
}

Builder& Builder::map(std::string prefix, const std::function<void(Builder&)>& fn) {
  Builder inner;
  fn(inner);
  maps_.emplace_back(std::move(prefix), inner.to_app());
  return *this;
}

App Builder::to_app() const {
  App app = run_;
  if (!maps_.empty()) {
    auto mounts = maps_;
    if (run_) mounts.emplace_back("/", run_);
    app = url_map(std::move(mounts));
  }
  if (!app) throw std::logic_error("lithe::Builder: nothing to run: call run() or map()");
  for (auto it = use_.rbegin(); it != use_.rend(); ++it)
    app = (*it)(std::move(app));
  return app;
}

} // namespace lithe
