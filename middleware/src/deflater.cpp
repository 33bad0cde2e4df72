// Deflater: one z_stream per response, gzip framing (windowBits 15 + 16).
#include <lithe/mw/deflater.hpp>

#include "zlib_stream.hpp"

#include <memory>
#include <zlib.h>

namespace lithe::mw {

namespace {

bool compressible(std::string_view type) {
  if (type.starts_with("text/")) return true;
  for (std::string_view t : {"application/json", "application/javascript", "application/xml",
                             "image/svg+xml", "application/wasm"})
    if (type.starts_with(t)) return true;
  return false;
}

/// A gzip stream that outlives the calls that feed it.
class Gzip {
public:
  explicit Gzip(int level) {
    ok_ = deflateInit2(&z_, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
  }
  ~Gzip() { deflateEnd(&z_); }
  Gzip(const Gzip&) = delete;
  Gzip& operator=(const Gzip&) = delete;
  bool ok() const noexcept { return ok_; }
  /// Compresses `in`; `flush` is Z_SYNC_FLUSH (a chunk the client can decode now) or Z_FINISH.
  std::string feed(std::string_view in, int flush) {
    std::string out;
    detail::deflate_into(z_, in, flush, out);
    return out;
  }

private:
  z_stream z_{};
  bool ok_ = false;
};

} // namespace

double accept_q(std::string_view header, std::string_view coding) {
  double star = -1, exact = -1;
  while (!header.empty()) {
    std::size_t comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    std::size_t semi = item.find(';');
    std::string_view name = item.substr(0, semi);
    while (!name.empty() && name.front() == ' ')
      name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ')
      name.remove_suffix(1);
    double q = 1;
    if (semi != std::string_view::npos) {
      std::string_view params = item.substr(semi + 1);
      std::size_t qpos = params.find("q=");
      if (qpos != std::string_view::npos)
        q = std::atof(std::string(params.substr(qpos + 2)).c_str());
    }
    if (iequals(name, coding)) exact = q;
    if (name == "*") star = q;
  }
  if (exact >= 0) return exact;
  if (star >= 0) return star;
  return iequals(coding, "identity") ? 1 : 0;
}

Middleware deflater(DeflaterOptions options) {
  return [options](App next) -> App {
    return [options, next = std::move(next)](Env& env) {
      bool wants = accept_q(env.header("accept-encoding").value_or(""), "gzip") > 0;
      Response r = next(env);
      if (!wants) return r;
      return env.then(std::move(r), [options](Env& e, Response res) {
        if (status_has_no_body(res.status) || e.method() == "HEAD" ||
            res.headers.has("content-encoding") ||
            res.headers.get("cache-control").value_or("").find("no-transform") !=
                std::string_view::npos ||
            !compressible(res.headers.get("content-type").value_or("")))
          return res;
        auto kind = res.body.kind();
        if (kind == Body::Kind::bytes || kind == Body::Kind::chunks) {
          std::string plain = res.body.to_string();
          if (plain.size() < options.min_size) return res;
          Gzip gz(options.level);
          if (!gz.ok()) return res;
          res.body = gz.feed(plain, Z_FINISH);
        } else if (kind == Body::Kind::deferrable || kind == Body::Kind::stream) {
          auto gz = std::make_shared<Gzip>(options.level);
          auto filter = [gz](std::string_view chunk, bool last) {
            return gz->feed(chunk, last ? Z_FINISH : Z_SYNC_FLUSH);
          };
          if (auto* d = res.body.get_if<DeferrableBody>()) {
            d->add_filter(filter);
          } else if (auto* s = res.body.get_if<StreamBody>()) {
            res.body = StreamBody{[fn = std::move(s->fn), filter](DeferrableBody out) mutable {
                                    out.add_filter(filter);
                                    fn(std::move(out));
                                  },
                                  s->keep_open};
          }
        } else {
          return res; // files keep sendfile; hijacks are not bodies
        }
        res.headers.remove("content-length");
        res.headers.set("Content-Encoding", "gzip");
        res.headers.add("Vary", "Accept-Encoding");
        return res;
      });
    };
  };
}

} // namespace lithe::mw
