// ConditionalGet: If-None-Match takes precedence over If-Modified-Since (§13.2.2).
#include <lithe/mw/conditional_get.hpp>

#include <lithe/mw/http_date.hpp>

namespace lithe::mw {

namespace {
bool not_modified(const Env& env, const Response& r) {
  if (auto inm = env.header("if-none-match")) {
    auto tag = r.headers.get("etag");
    return tag && etag_matches(*inm, *tag);
  }
  auto ims = env.header("if-modified-since");
  auto lm = r.headers.get("last-modified");
  if (!ims || !lm) return false;
  auto since = parse_http_date(*ims), modified = parse_http_date(*lm);
  return since && modified && *modified <= *since;
}
} // namespace

Middleware conditional_get() {
  return [](App next) -> App {
    return [next = std::move(next)](Env& env) {
      Response r = next(env);
      if (env.method() != "GET" && env.method() != "HEAD") return r;
      return env.then(std::move(r), [](Env& e, Response res) {
        if (res.status != 200 || !not_modified(e, res)) return res;
        Response out(304);
        for (const Header& h : res.headers) // keep validators and caching headers only
          if (!iequals(h.name.view(), "content-length") &&
              !iequals(h.name.view(), "content-type") &&
              !iequals(h.name.view(), "content-encoding"))
            out.headers.add(h.name.view(), h.value.view());
        return out;
      });
    };
  };
}

} // namespace lithe::mw
