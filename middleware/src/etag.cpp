// ETag: FNV-1a (64 bit) over the body and its length, as a weak validator (RFC 9110 §8.8.3).
#include <lithe/mw/etag.hpp>

#include <cstdio>

namespace lithe::mw {

namespace {
std::uint64_t fnv1a(std::string_view s, std::uint64_t h) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}
} // namespace

Middleware etag() {
  return [](App next) -> App {
    return [next = std::move(next)](Env& env) {
      return env.then(next(env), [](Env&, Response r) {
        if (r.status != 200 || r.headers.has("etag") || r.headers.has("last-modified")) return r;
        if (r.headers.get("cache-control").value_or("").find("no-cache") != std::string_view::npos)
          return r;
        auto kind = r.body.kind();
        if (kind != Body::Kind::bytes && kind != Body::Kind::chunks) return r;
        std::string bytes = r.body.to_string();
        char tag[48];
        std::snprintf(tag, sizeof tag, "W/\"%016llx-%zx\"",
                      static_cast<unsigned long long>(fnv1a(bytes, 14695981039346656037ull)),
                      bytes.size());
        r.headers.add("ETag", tag);
        return r;
      });
    };
  };
}

} // namespace lithe::mw
