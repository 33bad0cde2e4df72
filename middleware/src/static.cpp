// Static: path safety first (decode, refuse NUL and "..", then openat2 with RESOLVE_BENEATH
// keeps the open under the root), then validators, ranges and the body.
#include <lithe/mw/static.hpp>

#include <lithe/mw/deflater.hpp>
#include <lithe/mw/http_date.hpp>

#include <climits>
#include <cstdlib>
#include <fcntl.h>
#include <linux/openat2.h>
#include <memory>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

namespace lithe::mw {

std::string_view mime_type(std::string_view path) {
  static constexpr std::pair<std::string_view, std::string_view> types[] = {
      {".html", "text/html; charset=utf-8"},
      {".htm", "text/html; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".json", "application/json"},
      {".txt", "text/plain; charset=utf-8"},
      {".md", "text/markdown; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},
      {".webp", "image/webp"},
      {".ico", "image/x-icon"},
      {".wasm", "application/wasm"},
      {".pdf", "application/pdf"},
      {".xml", "application/xml"},
      {".woff2", "font/woff2"},
      {".mp4", "video/mp4"},
      {".gz", "application/gzip"},
      {".zip", "application/zip"},
  };
  for (const auto& [ext, type] : types)
    if (path.size() > ext.size() && iequals(path.substr(path.size() - ext.size()), ext))
      return type;
  return "application/octet-stream";
}

namespace {

struct Resolved {
  int status = 0; // 0: found; else 400, 403 or 404
  File file;
  std::string name; // for the content type and the .gz sibling
  struct stat st {};
};

/// Opens `rel` under the root directory `root_fd`. openat2's RESOLVE_BENEATH makes the kernel
/// refuse any resolution that leaves the root, symlinks included, in the one open call.
int open_beneath(int root_fd, const std::string& rel) {
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(
      ::syscall(SYS_openat2, root_fd, rel.empty() ? "." : rel.c_str(), &how, sizeof how));
}

/// Maps PATH_INFO to an open regular file under the root, or says why not.
Resolved resolve(int root_fd, std::string_view path_info, const std::string& index) {
  Resolved r;
  std::string rel = percent_decode(path_info);
  if (rel.find('\0') != std::string::npos) return {400, {}, {}, {}};
  // No ".." segment, before or after decoding (%2e%2e), with either slash: 403, not 404.
  for (std::size_t i = 0; i <= rel.size();) {
    std::size_t j = rel.find_first_of("/\\", i);
    if (j == std::string::npos) j = rel.size();
    if (rel.compare(i, j - i, "..") == 0) return {403, {}, {}, {}};
    i = j + 1;
  }
  while (!rel.empty() && rel.front() == '/')
    rel.erase(0, 1);
  int fd = open_beneath(root_fd, rel);
  if (fd < 0) return {404, {}, {}, {}}; // absent, or a symlink leading out (EXDEV)
  r.file = File(fd);
  if (::fstat(fd, &r.st) != 0) return {404, {}, {}, {}};
  if (S_ISDIR(r.st.st_mode)) {
    if (index.empty()) return {404, {}, {}, {}};
    rel += rel.empty() || rel.back() == '/' ? index : "/" + index;
    fd = open_beneath(root_fd, rel);
    if (fd < 0) return {404, {}, {}, {}};
    r.file = File(fd);
    if (::fstat(fd, &r.st) != 0) return {404, {}, {}, {}};
  }
  if (!S_ISREG(r.st.st_mode)) return {404, {}, {}, {}};
  r.name = std::move(rel);
  return r;
}

struct Range {
  std::uint64_t first, last; // inclusive
};

/// RFC 9110 §14.1.2 byte ranges; nullopt for a header to ignore; an empty list when none is
/// satisfiable (416).
std::optional<std::vector<Range>> parse_ranges(std::string_view h, std::uint64_t size) {
  if (!h.starts_with("bytes=")) return std::nullopt;
  h.remove_prefix(6);
  std::vector<Range> out;
  while (!h.empty()) {
    std::size_t comma = h.find(',');
    std::string_view spec = h.substr(0, comma);
    h = comma == std::string_view::npos ? std::string_view{} : h.substr(comma + 1);
    while (!spec.empty() && spec.front() == ' ')
      spec.remove_prefix(1);
    std::size_t dash = spec.find('-');
    if (dash == std::string_view::npos) return std::nullopt;
    auto a = parse_u64(spec.substr(0, dash)), b = parse_u64(spec.substr(dash + 1));
    if (dash == 0) { // suffix: the last N bytes
      if (!b || *b == 0) continue;
      std::uint64_t n = std::min(*b, size);
      if (n > 0) out.push_back({size - n, size - 1});
    } else {
      if (!a || (dash + 1 < spec.size() && !b)) return std::nullopt;
      if (*a >= size) continue;
      std::uint64_t last = b ? std::min(*b, size - 1) : size - 1;
      if (b && *b < *a) return std::nullopt;
      out.push_back({*a, last});
    }
  }
  if (out.size() > 16) return std::nullopt; // many small ranges: serve the whole file
  return out;
}

Response serve(Env& env, const StaticOptions& o, int root_fd, bool fall_through, const App* next) {
  std::string_view method = env.method();
  Resolved r = resolve(root_fd, env.path(), o.index);
  if (r.status == 404 && fall_through) return (*next)(env);
  if (method != "GET" && method != "HEAD") {
    if (fall_through) return (*next)(env);
    return {405, {{"Allow", "GET, HEAD"}}, "Method Not Allowed\n"};
  }
  if (r.status == 400) return {400, {{"Content-Type", "text/plain"}}, "Bad Request\n"};
  if (r.status == 403) return {403, {{"Content-Type", "text/plain"}}, "Forbidden\n"};
  if (r.status == 404) return {404, {{"Content-Type", "text/plain"}}, "Not Found\n"};

  const std::uint64_t size = static_cast<std::uint64_t>(r.st.st_size);
  char tag[64];
  std::snprintf(tag, sizeof tag, "W/\"%llx-%llx\"", static_cast<unsigned long long>(size),
                static_cast<unsigned long long>(r.st.st_mtim.tv_sec));
  Headers h{{"Content-Type", mime_type(r.name)},
            {"Last-Modified", format_http_date(r.st.st_mtim.tv_sec)},
            {"ETag", tag},
            {"Accept-Ranges", "bytes"}};
  if (!o.cache_control.empty()) h.add("Cache-Control", o.cache_control);

  // Validators (RFC 9110 §13.2.2): If-None-Match first, then If-Modified-Since.
  bool fresh = false;
  if (auto inm = env.header("if-none-match"))
    fresh = etag_matches(*inm, tag);
  else if (auto ims = env.header("if-modified-since"))
    if (auto since = parse_http_date(*ims)) fresh = r.st.st_mtim.tv_sec <= *since;
  if (fresh) {
    h.remove("content-type");
    return {304, std::move(h), {}};
  }

  auto range_header = env.header("range");
  if (range_header) {
    if (auto ranges = parse_ranges(*range_header, size)) {
      if (ranges->empty()) {
        h.add("Content-Range", "bytes */" + std::to_string(size));
        h.remove("content-type");
        return {416, std::move(h), {}};
      }
      File& f = r.file;
      if (ranges->size() == 1) {
        const Range& rg = ranges->front();
        h.add("Content-Range", "bytes " + std::to_string(rg.first) + "-" + std::to_string(rg.last) +
                                   "/" + std::to_string(size));
        return {206, std::move(h), FileRange{std::move(f), rg.first, rg.last - rg.first + 1}};
      }
      // Several ranges: multipart/byteranges (RFC 9110 §14.6), read into memory.
      const std::string boundary = "lithe-byteranges-7d3f";
      std::string type(mime_type(r.name));
      Body::Chunks parts;
      for (const Range& rg : *ranges) {
        std::string part = "--" + boundary + "\r\nContent-Type: " + type +
                           "\r\nContent-Range: bytes " + std::to_string(rg.first) + "-" +
                           std::to_string(rg.last) + "/" + std::to_string(size) + "\r\n\r\n";
        std::string data(rg.last - rg.first + 1, '\0');
        if (::pread(f.fd(), data.data(), data.size(), static_cast<off_t>(rg.first)) !=
            static_cast<ssize_t>(data.size()))
          return {500, {}, "Internal Server Error\n"};
        parts.emplace_back(std::move(part));
        parts.emplace_back(std::move(data));
        parts.emplace_back(std::string("\r\n"));
      }
      parts.emplace_back("--" + boundary + "--\r\n");
      h.set("Content-Type", "multipart/byteranges; boundary=" + boundary);
      return {206, std::move(h), Body(std::move(parts))};
    }
  }
  // A precompressed sibling for clients that accept gzip (never for ranges).
  if (o.gzip_siblings && accept_q(env.header("accept-encoding").value_or(""), "gzip") > 0) {
    int gfd = open_beneath(root_fd, r.name + ".gz");
    struct stat gst {};
    File gz(gfd);
    if (gfd >= 0 && ::fstat(gfd, &gst) == 0 && S_ISREG(gst.st_mode)) {
      h.add("Content-Encoding", "gzip");
      h.add("Vary", "Accept-Encoding");
      return {200, std::move(h),
              FileRange{std::move(gz), 0, static_cast<std::uint64_t>(gst.st_size)}};
    }
  }
  return {200, std::move(h), FileRange{std::move(r.file), 0, size}};
}

/// The root as an open directory, shared by the App's copies and closed with the last.
std::shared_ptr<const File> open_root(const std::string& root) {
  int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("static files: cannot open the root " + root);
  return std::make_shared<const File>(fd);
}

} // namespace

App files(StaticOptions options) {
  auto root = open_root(options.root);
  return [options, root](Env& env) { return serve(env, options, root->fd(), false, nullptr); };
}

Middleware static_files(StaticOptions options) {
  auto root = open_root(options.root);
  return [options, root](App next) -> App {
    return [options, root, next = std::move(next)](Env& env) {
      return serve(env, options, root->fd(), true, &next);
    };
  };
}

} // namespace lithe::mw
