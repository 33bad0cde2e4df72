// Cors: the Fetch standard §3.2 (the CORS protocol). Origins are matched by plain comparison
// and by prefix/suffix patterns compiled at construction: no regex built from configuration.
#include <lithe/mw/cors.hpp>

#include <memory>
#include <stdexcept>

namespace lithe::mw {

namespace {

bool istarts_with(std::string_view s, std::string_view p) noexcept {
  return s.size() >= p.size() && iequals(s.substr(0, p.size()), p);
}

bool iends_with(std::string_view s, std::string_view p) noexcept {
  return s.size() >= p.size() && iequals(s.substr(s.size() - p.size()), p);
}

bool is_label_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

bool is_token_list(std::string_view s) noexcept { // field names, commas and spaces
  for (char c : s)
    if (!(is_label_char(c) || c == '_' || c == ',' || c == ' ' || c == '\t' || c == '.'))
      return false;
  return true;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

/// Adds `name` to the response's Vary unless it is there (or Vary is "*").
void add_vary(Headers& h, std::string_view name) {
  std::optional<std::string_view> vary = h.get("vary");
  if (!vary) {
    h.add("Vary", std::string(name));
    return;
  }
  std::string_view rest = *vary;
  while (!rest.empty()) {
    std::size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t'))
      item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t'))
      item.remove_suffix(1);
    if (item == "*" || iequals(item, name)) return;
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  h.set("Vary", std::string(*vary) + ", " + std::string(name));
}

struct Compiled {
  CorsPolicy policy;
  bool credentials;
  bool any_header;
  std::string methods, headers, expose, max_age;
};

} // namespace

CorsPolicy::CorsPolicy(const CorsOptions& o) {
  for (const std::string& origin : o.origins) {
    if (origin == "*") {
      any_ = true;
      continue;
    }
    std::size_t scheme_end = origin.find("://");
    if (scheme_end == std::string::npos || scheme_end == 0)
      throw std::invalid_argument("cors: an origin is scheme://host[:port]: " + origin);
    std::string_view host = std::string_view(origin).substr(scheme_end + 3);
    if (host.empty() || host.find('/') != std::string_view::npos)
      throw std::invalid_argument("cors: an origin has no path: " + origin);
    std::size_t star = host.find('*');
    if (star == std::string_view::npos) {
      exact_.push_back(origin);
      continue;
    }
    if (star != 0 || host.size() < 3 || host[1] != '.' ||
        host.find('*', 1) != std::string_view::npos)
      throw std::invalid_argument("cors: a pattern is scheme://*.domain[:port]: " + origin);
    patterns_.push_back({origin.substr(0, scheme_end + 3), std::string(host.substr(1))});
  }
  if (any_ && o.credentials)
    throw std::invalid_argument("cors: \"*\" with credentials would let every site act as the "
                                "user; list the origins");
}

bool CorsPolicy::allows(std::string_view origin) const noexcept {
  if (origin.empty()) return false;
  if (any_) return true;
  for (const std::string& e : exact_)
    if (iequals(origin, e)) return true;
  for (const Pattern& p : patterns_) {
    if (origin.size() <= p.prefix.size() + p.suffix.size()) continue;
    if (!istarts_with(origin, p.prefix) || !iends_with(origin, p.suffix)) continue;
    std::string_view labels =
        origin.substr(p.prefix.size(), origin.size() - p.prefix.size() - p.suffix.size());
    if (labels.front() == '.' || labels.back() == '.') continue;
    bool ok = true;
    for (std::size_t i = 0; i < labels.size() && ok; ++i)
      ok = is_label_char(labels[i]) || (labels[i] == '.' && labels[i - 1] != '.');
    if (ok) return true;
  }
  return false;
}

Middleware cors(CorsOptions o) {
  auto c = std::make_shared<const Compiled>(Compiled{
      .policy = CorsPolicy(o),
      .credentials = o.credentials,
      .any_header = o.headers.size() == 1 && o.headers.front() == "*",
      .methods = join(o.methods),
      .headers = join(o.headers),
      .expose = join(o.expose),
      .max_age = o.max_age >= 0 ? std::to_string(o.max_age) : std::string(),
  });
  return [c](App next) -> App {
    return [c, next = std::move(next)](Env& env) -> Response {
      std::string_view origin = env.header("origin").value_or("");
      const bool allowed = c->policy.allows(origin);
      // "*" only without credentials (refused at construction otherwise); else the origin.
      auto allow = [&c, origin](Headers& h) {
        h.set("Access-Control-Allow-Origin",
              c->policy.any() ? std::string("*") : std::string(origin));
        if (c->credentials) h.set("Access-Control-Allow-Credentials", "true");
      };
      std::optional<std::string_view> asked = env.header("access-control-request-method");
      if (allowed && env.method() == "OPTIONS" && asked) {
        Response r(204);
        allow(r.headers);
        r.headers.add("Access-Control-Allow-Methods", c->methods);
        std::string_view want = env.header("access-control-request-headers").value_or("");
        if (c->any_header && !want.empty() && want.size() <= 4096 && is_token_list(want))
          r.headers.add("Access-Control-Allow-Headers", std::string(want));
        else if (!c->any_header && !c->headers.empty())
          r.headers.add("Access-Control-Allow-Headers", c->headers);
        if (!c->max_age.empty()) r.headers.add("Access-Control-Max-Age", c->max_age);
        r.headers.add("Vary", "Origin, Access-Control-Request-Method, "
                              "Access-Control-Request-Headers");
        return r;
      }
      std::string kept = allowed ? std::string(origin) : std::string();
      return env.then(next(env), [c, allowed, kept](Env&, Response r) {
        if (allowed) {
          r.headers.set("Access-Control-Allow-Origin", c->policy.any() ? std::string("*") : kept);
          if (c->credentials) r.headers.set("Access-Control-Allow-Credentials", "true");
          if (!c->expose.empty()) r.headers.set("Access-Control-Expose-Headers", c->expose);
        } else { // whatever the app said, a refused origin is not allowed
          r.headers.remove("access-control-allow-origin");
          r.headers.remove("access-control-allow-credentials");
        }
        add_vary(r.headers, "Origin");
        return r;
      });
    };
  };
}

} // namespace lithe::mw
