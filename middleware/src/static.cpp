// Static: path safety first (decode, refuse NUL, ".." and dotfiles, then openat2 with
// RESOLVE_BENEATH keeps the open under the root, O_NONBLOCK keeps a FIFO from blocking it),
// then validators, ranges (lithe/mw/byte_ranges.hpp) and a body sent from the file.
#include <lithe/mw/static.hpp>

#include <lithe/mw/deflater.hpp>
#include <lithe/mw/http_date.hpp>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <linux/openat2.h>
#include <memory>
#include <stdexcept>
#include <sys/random.h>
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
/// O_NONBLOCK because opening a FIFO waits for a writer (and some devices wait too): the loop
/// thread must never block here; what is not a regular file is refused after fstat, unread.
int open_beneath(int root_fd, const std::string& rel) {
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(
      ::syscall(SYS_openat2, root_fd, rel.empty() ? "." : rel.c_str(), &how, sizeof how));
}

/// Maps PATH_INFO to an open regular file under the root, or says why not.
Resolved resolve(int root_fd, std::string_view path_info, const StaticOptions& o) {
  Resolved r;
  std::string rel = percent_decode(path_info);
  if (rel.find('\0') != std::string::npos) return {400, {}, {}, {}};
  // Segment by segment, with either slash: a ".." (before or after decoding: %2e%2e) is 403; a
  // dotfile (.git, .env) is 404 unless asked for, so it looks like nothing at all.
  bool hidden = false;
  for (std::size_t i = 0; i <= rel.size();) {
    std::size_t j = rel.find_first_of("/\\", i);
    if (j == std::string::npos) j = rel.size();
    std::string_view segment(rel.data() + i, j - i);
    if (segment == "..") return {403, {}, {}, {}};
    if (!o.dotfiles && segment.starts_with('.')) hidden = true;
    i = j + 1;
  }
  if (hidden) return {404, {}, {}, {}};
  while (!rel.empty() && rel.front() == '/')
    rel.erase(0, 1);
  int fd = open_beneath(root_fd, rel);
  if (fd < 0) return {404, {}, {}, {}}; // absent, or a symlink leading out (EXDEV)
  r.file = File(fd);
  if (::fstat(fd, &r.st) != 0) return {404, {}, {}, {}};
  if (S_ISDIR(r.st.st_mode)) {
    if (o.index.empty()) return {404, {}, {}, {}};
    rel += rel.empty() || rel.back() == '/' ? o.index : "/" + o.index;
    fd = open_beneath(root_fd, rel);
    if (fd < 0) return {404, {}, {}, {}};
    r.file = File(fd);
    if (::fstat(fd, &r.st) != 0) return {404, {}, {}, {}};
  }
  if (!S_ISREG(r.st.st_mode)) return {404, {}, {}, {}}; // a FIFO, socket or device
  r.name = std::move(rel);
  return r;
}

/// If-Range (RFC 9110 §13.1.5): a Range holds only while the client's copy is current. Our
/// entity tags are weak and If-Range compares strongly, so only the exact Last-Modified date
/// can match; anything else sends the whole file.
bool if_range_holds(const Env& env, std::time_t mtime) {
  auto v = env.header("if-range");
  if (!v) return true;
  if (v->starts_with('"') || v->starts_with("W/")) return false;
  auto date = parse_http_date(*v);
  return date && *date == mtime;
}

/// A multipart boundary (RFC 9110 §14.6, RFC 2046 §5.1.1) that no file is likely to hold: a
/// random number per process and a counter, so no two responses share one.
std::string make_boundary() {
  static const std::uint64_t seed = [] {
    std::uint64_t v = 0;
    if (::getrandom(&v, sizeof v, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof v))
      v = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
          static_cast<std::uint64_t>(::getpid());
    return v;
  }();
  static std::atomic<std::uint64_t> counter{0};
  char b[64];
  std::snprintf(b, sizeof b, "lithe-%016llx-%llx", static_cast<unsigned long long>(seed),
                static_cast<unsigned long long>(counter.fetch_add(1, std::memory_order_relaxed)));
  return b;
}

std::string content_range(const ByteRange& r, std::uint64_t size) {
  return "bytes " + std::to_string(r.first) + "-" + std::to_string(r.last) + "/" +
         std::to_string(size);
}

/// 206 for the ranges parse_byte_ranges chose: one as a FileRange, several as
/// multipart/byteranges in a FileParts body. Either is sent from the file in bounded steps
/// (nothing here reads it), and a HEAD never gets here.
Response partial(Resolved& r, const std::vector<ByteRange>& ranges, Headers h) {
  const auto size = static_cast<std::uint64_t>(r.st.st_size);
  if (ranges.size() == 1) {
    h.add("Content-Range", content_range(ranges.front(), size));
    return {206, std::move(h),
            FileRange{std::move(r.file), ranges.front().first, ranges.front().length()}};
  }
  const std::string boundary = make_boundary();
  const std::string_view type = mime_type(r.name);
  FileParts body{std::move(r.file), {}, {}};
  body.parts.reserve(ranges.size());
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    std::string before = i == 0 ? "--" : "\r\n--";
    before.append(boundary).append("\r\nContent-Type: ").append(type);
    before.append("\r\nContent-Range: ").append(content_range(ranges[i], size)).append("\r\n\r\n");
    body.parts.push_back({std::move(before), ranges[i].first, ranges[i].length()});
  }
  body.after = "\r\n--" + boundary + "--\r\n";
  h.set("Content-Type", "multipart/byteranges; boundary=" + boundary);
  return {206, std::move(h), std::move(body)};
}

Response serve(Env& env, const StaticOptions& o, int root_fd, bool fall_through, const App* next) {
  std::string_view method = env.method();
  Resolved r = resolve(root_fd, env.path(), o);
  if (r.status == 404 && fall_through) return (*next)(env);
  if (method != "GET" && method != "HEAD") {
    if (fall_through) return (*next)(env);
    return {405, {{"Allow", "GET, HEAD"}}, "Method Not Allowed\n"};
  }
  if (r.status == 400) return {400, {{"Content-Type", "text/plain"}}, "Bad Request\n"};
  if (r.status == 403) return {403, {{"Content-Type", "text/plain"}}, "Forbidden\n"};
  if (r.status == 404) return {404, {{"Content-Type", "text/plain"}}, "Not Found\n"};

  const std::uint64_t size = static_cast<std::uint64_t>(r.st.st_size);
  const bool ranges_on = o.ranges.max_ranges > 0;
  char tag[64];
  std::snprintf(tag, sizeof tag, "W/\"%llx-%llx\"", static_cast<unsigned long long>(size),
                static_cast<unsigned long long>(r.st.st_mtim.tv_sec));
  Headers h{{"Content-Type", mime_type(r.name)},
            {"Last-Modified", format_http_date(r.st.st_mtim.tv_sec)},
            {"ETag", tag}};
  if (ranges_on) h.add("Accept-Ranges", "bytes");
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

  // Range is defined for GET only (RFC 9110 §14.2: a server MUST ignore it on other methods),
  // so a HEAD is answered from fstat alone, as the GET without Range would be.
  auto range_header = env.header("range");
  if (range_header && ranges_on && method == "GET" && if_range_holds(env, r.st.st_mtim.tv_sec)) {
    if (auto ranges = parse_byte_ranges(*range_header, size, o.ranges)) {
      if (ranges->empty()) {
        h.add("Content-Range", "bytes */" + std::to_string(size));
        h.remove("content-type");
        return {416, std::move(h), {}};
      }
      return partial(r, *ranges, std::move(h));
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
  if (root.empty())
    throw std::invalid_argument("static files: no root folder given (StaticOptions::root)");
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
