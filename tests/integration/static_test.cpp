// Static files over real sockets on every backend: validators, ranges (multipart byte-exact,
// range bombs in bounded memory), index files, gzip siblings, sendfile of a 1 MiB file, every
// way out of the root refused, dotfiles hidden, and a FIFO that cannot block a worker.
#include "support/backends.hpp"
#include "support/net_client.hpp"

#include <lithe/mw/conditional_get.hpp>
#include <lithe/mw/deflater.hpp>
#include <lithe/mw/static.hpp>

#include <catch2/catch.hpp>

#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace lithe;
using namespace lithe::test;
namespace fs = std::filesystem;

namespace {

struct Site {
  fs::path root;
  Site() {
    root = fs::temp_directory_path() / ("lithe-static-" + std::to_string(::getpid()));
    fs::create_directories(root / "sub");
    write("index.html", "<h1>home</h1>");
    write("a.txt", "0123456789");
    write("a.txt.gz", "pretend-gzip");
    write("sub/index.html", "<h1>sub</h1>");
    write("big.bin", big_body(1 << 20));
    fs::create_symlink("/etc/hostname", root / "out");
  }
  ~Site() { fs::remove_all(root); }
  void write(const std::string& name, const std::string& data) {
    std::ofstream(root / name, std::ios::binary) << data;
  }
  App app(mw::StaticOptions o = {}) const {
    o.root = root.string();
    return Builder([o](Builder& b) {
             b.use(mw::conditional_get());
             b.use(mw::deflater());
             b.run(mw::files(o));
           })
        .to_app();
  }
};

HttpResponse fetch(std::uint16_t port, const std::string& path, const std::string& headers = "") {
  RawClient c(port);
  c.send(get(path, headers));
  auto r = c.read_response();
  REQUIRE(r);
  return *r;
}

/// A sparse file of `size` bytes (ftruncate: no disk, no page cache) with 64 KiB of text at
/// each of `marks`, so that ranges across them can be checked byte for byte.
struct SparseFile {
  fs::path path;
  std::uint64_t size;
  SparseFile(fs::path p, std::uint64_t n, const std::vector<std::uint64_t>& marks)
      : path(std::move(p)), size(n) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(::ftruncate(fd, static_cast<off_t>(n)) == 0);
    const std::string text = big_body(64 * 1024);
    for (std::uint64_t at : marks)
      REQUIRE(::pwrite(fd, text.data(), text.size(), static_cast<off_t>(at)) ==
              static_cast<ssize_t>(text.size()));
    ::close(fd);
  }
};

/// Peak resident memory of this process (the server runs in it) in KiB, reset to the current
/// value by reset_peak_rss() (Linux's clear_refs "5").
long peak_rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.starts_with("VmHWM:")) return std::stol(line.substr(6));
  return 0;
}
bool reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
  f.flush();
  return static_cast<bool>(f);
}

/// Reads exactly `n` bytes into `dst` within 5 s: first what the client already buffered, then
/// straight from the socket, so reading allocates nothing per chunk (under ASan, freed chunks
/// stay in its quarantine and would count as the server's memory).
bool read_exact(RawClient& c, char* dst, std::size_t n) {
  std::size_t have = std::min(n, c.pending().size());
  if (have > 0) {
    std::string first = c.read_bytes(have);
    std::memcpy(dst, first.data(), have);
  }
  auto until = std::chrono::steady_clock::now() + 5s;
  while (have < n) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    pollfd p{c.fd(), POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    ssize_t got = ::recv(c.fd(), dst + have, n - have, 0);
    if (got <= 0) return false;
    have += static_cast<std::size_t>(got);
  }
  return true;
}

/// A body the test expects: literal text and ranges of a file, compared in 64 KiB steps as
/// it arrives, never held whole (the client shares the server's process, whose memory is
/// what the test measures).
struct Expected {
  struct Piece {
    std::string text;
    std::uint64_t offset = 0, length = 0; // a range of the file when length > 0
  };
  std::vector<Piece> pieces;
  std::uint64_t size() const {
    std::uint64_t n = 0;
    for (const Piece& p : pieces)
      n += p.length ? p.length : p.text.size();
    return n;
  }
  /// True when the next size() bytes from `c` are these.
  bool arrives(RawClient& c, const fs::path& file) const {
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    constexpr std::size_t step = 1 << 16;
    std::vector<char> got(step), want(step);
    bool same = true;
    for (const Piece& p : pieces) {
      if (!p.length) {
        got.resize(std::max(got.size(), p.text.size()));
        same = same && read_exact(c, got.data(), p.text.size()) &&
               std::memcmp(got.data(), p.text.data(), p.text.size()) == 0;
        continue;
      }
      for (std::uint64_t done = 0; same && done < p.length;) {
        auto n = static_cast<std::size_t>(std::min<std::uint64_t>(p.length - done, step));
        REQUIRE(::pread(fd, want.data(), n, static_cast<off_t>(p.offset + done)) ==
                static_cast<ssize_t>(n));
        same = read_exact(c, got.data(), n) && std::memcmp(got.data(), want.data(), n) == 0;
        done += n;
      }
    }
    ::close(fd);
    return same;
  }
};

/// A GET or HEAD with a Range header whose head is read; the body stays in the client.
HttpResponse ask(RawClient& c, std::string_view method, std::string_view path,
                 std::string_view range) {
  c.send(std::string(method) + " " + std::string(path) +
         " HTTP/1.1\r\nHost: t\r\nRange: " + std::string(range) + "\r\n\r\n");
  auto r = c.read_response(5s, true);
  REQUIRE(r);
  return *r;
}

/// Opens a FIFO for writing without blocking, and closes it: a server stuck opening the FIFO
/// for reading (the bug) is released, so a failing test ends instead of hanging its server.
struct FifoReleaser {
  std::vector<fs::path> fifos;
  ~FifoReleaser() {
    for (const fs::path& f : fifos)
      if (int fd = ::open(f.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC); fd >= 0) ::close(fd);
  }
};

} // namespace

TEMPLATE_TEST_CASE("Static serves files with validators and answers 304", "[static]",
                   LITHE_BACKENDS) {
  Site site;
  TestServer s(TestType::name, site.app());
  auto r = fetch(s.port(), "/a.txt");
  CHECK(r.status == 200);
  CHECK(r.body == "0123456789");
  CHECK(r.header("Content-Type") == "text/plain; charset=utf-8");
  REQUIRE(r.header("ETag"));
  REQUIRE(r.header("Last-Modified"));
  CHECK(fetch(s.port(), "/a.txt", "If-None-Match: " + *r.header("ETag") + "\r\n").status == 304);
  CHECK(fetch(s.port(), "/a.txt", "If-Modified-Since: " + *r.header("Last-Modified") + "\r\n")
            .status == 304);
  CHECK(fetch(s.port(), "/").body == "<h1>home</h1>");
  CHECK(fetch(s.port(), "/sub/").body == "<h1>sub</h1>");
  CHECK(fetch(s.port(), "/missing").status == 404);
  auto big = fetch(s.port(), "/big.bin");
  CHECK(big.body == big_body(1 << 20));
  CHECK(fetch(s.port(), "/a.txt", "Accept-Encoding: gzip\r\n").body == "pretend-gzip");
}

TEMPLATE_TEST_CASE("Static answers Range requests with 206, multipart, and 416", "[static]",
                   LITHE_BACKENDS) {
  Site site;
  TestServer s(TestType::name, site.app());
  auto one = fetch(s.port(), "/a.txt", "Range: bytes=2-5\r\n");
  CHECK(one.status == 206);
  CHECK(one.body == "2345");
  CHECK(one.header("Content-Range") == "bytes 2-5/10");
  CHECK(fetch(s.port(), "/a.txt", "Range: bytes=-3\r\n").body == "789");
  auto many = fetch(s.port(), "/a.txt", "Range: bytes=0-1,8-\r\n");
  CHECK(many.status == 206);
  CHECK(many.header("Content-Type")->starts_with("multipart/byteranges; boundary="));
  CHECK(many.body.find("Content-Range: bytes 0-1/10\r\n\r\n01\r\n") != std::string::npos);
  CHECK(many.body.find("Content-Range: bytes 8-9/10\r\n\r\n89\r\n") != std::string::npos);
  auto none = fetch(s.port(), "/a.txt", "Range: bytes=50-60\r\n");
  CHECK(none.status == 416);
  CHECK(none.header("Content-Range") == "bytes */10");
  auto r = run_process({"curl", "-s", "-r", "0-3", s.url("/big.bin")});
  CHECK(r.out == big_body(4));
}

TEMPLATE_TEST_CASE("No request reaches outside the root", "[static][security]", LITHE_BACKENDS) {
  Site site;
  TestServer s(TestType::name, site.app());
  CHECK(fetch(s.port(), "/../etc/passwd").status == 403);
  CHECK(fetch(s.port(), "/sub/../../etc/passwd").status == 403);
  CHECK(fetch(s.port(), "/%2e%2e/etc/passwd").status == 403);
  CHECK(fetch(s.port(), "/%2E%2E%2fetc%2fpasswd").status == 403);
  CHECK(fetch(s.port(), "/..%5c..%5cetc/passwd").status == 403);
  CHECK(fetch(s.port(), "/a.txt%00.html").status == 400);
  CHECK(fetch(s.port(), "/out").status == 404); // a symlink leading out
  RawClient c(s.port());
  c.send("DELETE /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 405);
}

TEMPLATE_TEST_CASE("Several ranges go out as multipart/byteranges from the file, byte-exact, "
                   "coalesced, in bounded memory",
                   "[static][ranges]", LITHE_BACKENDS) {
  constexpr std::uint64_t MiB = 1 << 20, size = 64 * MiB;
  Site site;
  SparseFile big(site.root / "sparse.bin", size, {0, 8 * MiB, 24 * MiB, 40 * MiB, size - 65536});
  TestServer s(TestType::name, site.app());
  RawClient c(s.port());
  // 9-10 MiB lies inside the first range and 32 MiB + 1 touches the second: both coalesce.
  const std::string range = "bytes=" + std::to_string(8 * MiB - 1000) + "-" +
                            std::to_string(12 * MiB) + "," + std::to_string(24 * MiB + 100) + "-" +
                            std::to_string(32 * MiB) + "," + std::to_string(9 * MiB) + "-" +
                            std::to_string(10 * MiB) + ",-100000," + std::to_string(32 * MiB + 1) +
                            "-" + std::to_string(32 * MiB + 5000);
  const bool reset = reset_peak_rss();
  const long before = peak_rss_kib();
  HttpResponse r = ask(c, "GET", "/sparse.bin", range);
  CHECK(r.status == 206);
  auto type = r.header("Content-Type");
  REQUIRE(type);
  REQUIRE(type->starts_with("multipart/byteranges; boundary="));
  const std::string boundary = type->substr(type->find('=') + 1);
  struct Part {
    std::uint64_t first, last;
  };
  const Part parts[] = {
      {8 * MiB - 1000, 12 * MiB}, {24 * MiB + 100, 32 * MiB + 5000}, {size - 100000, size - 1}};
  Expected want;
  for (std::size_t i = 0; i < std::size(parts); ++i) {
    want.pieces.push_back({(i ? "\r\n--" : "--") + boundary +
                           "\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes " +
                           std::to_string(parts[i].first) + "-" + std::to_string(parts[i].last) +
                           "/" + std::to_string(size) + "\r\n\r\n"});
    want.pieces.push_back({{}, parts[i].first, parts[i].last - parts[i].first + 1});
  }
  want.pieces.push_back({"\r\n--" + boundary + "--\r\n"});
  CHECK(r.header("Content-Length") == std::to_string(want.size()));
  CHECK(want.arrives(c, big.path));
  const long grown = peak_rss_kib() - before;
  INFO("peak RSS grew by " << grown << " KiB for ~28 MiB of ranges (reset: " << reset << ")");
  CHECK(grown < static_cast<long>(size / 8 / 1024));
}

TEMPLATE_TEST_CASE("A range bomb on a big file costs neither memory nor time, GET or HEAD",
                   "[static][ranges][security]", LITHE_BACKENDS) {
  constexpr std::uint64_t MiB = 1 << 20, size = 64 * MiB;
  Site site;
  SparseFile big(site.root / "sparse.bin", size, {0, 32 * MiB, size - 65536});
  TestServer s(TestType::name, site.app());
  std::string bomb = "bytes=0-";
  for (int i = 1; i < 16; ++i)
    bomb += "," + std::to_string(i) + "-";

  const bool reset = reset_peak_rss();
  long before = peak_rss_kib();
  RawClient head(s.port());
  // RFC 9110 §14.2: Range is for GET only; a HEAD is answered from fstat, as a plain GET.
  HttpResponse h = ask(head, "HEAD", "/sparse.bin", bomb);
  CHECK(h.status == 200);
  CHECK(h.header("Content-Length") == std::to_string(size));
  CHECK_FALSE(h.header("Content-Range"));
  CHECK(head.read_bytes(1, 100ms).empty());
  long grown = peak_rss_kib() - before;
  INFO("HEAD: peak RSS grew by " << grown << " KiB (reset: " << reset << ")");
  CHECK(grown < static_cast<long>(size / 8 / 1024));

  reset_peak_rss();
  before = peak_rss_kib();
  RawClient c(s.port());
  // 16 open ranges add up to 16 times the file: ignored, as nginx and Apache do; the whole
  // file goes out with sendfile.
  HttpResponse r = ask(c, "GET", "/sparse.bin", bomb);
  CHECK(r.status == 200);
  CHECK(r.header("Content-Length") == std::to_string(size));
  CHECK(Expected{{{{}, 0, size}}}.arrives(c, big.path));
  grown = peak_rss_kib() - before;
  INFO("GET: peak RSS grew by " << grown << " KiB (reset: " << reset << ")");
  CHECK(grown < static_cast<long>(size / 8 / 1024));

  // A 16 KiB header of "0-0," is refused after a few specs; the server stays quick.
  std::string huge = "bytes=";
  while (huge.size() < 12 * 1024)
    huge += "0-0,";
  huge.pop_back();
  auto tiny = fetch(s.port(), "/a.txt", "Range: " + huge + "\r\n");
  CHECK(tiny.status == 200);
  CHECK(tiny.body == "0123456789");
}

TEMPLATE_TEST_CASE("Range follows If-Range, limits and options", "[static][ranges]",
                   LITHE_BACKENDS) {
  Site site;
  TestServer s(TestType::name, site.app());
  auto whole = fetch(s.port(), "/a.txt");
  REQUIRE(whole.header("Last-Modified"));
  auto same = fetch(s.port(), "/a.txt",
                    "Range: bytes=0-1\r\nIf-Range: " + *whole.header("Last-Modified") + "\r\n");
  CHECK(same.status == 206);
  CHECK(same.body == "01");
  // Another date, or our weak ETag (If-Range compares strongly): the whole file.
  CHECK(fetch(s.port(), "/a.txt", "Range: bytes=0-1\r\nIf-Range: Thu, 01 Jan 2015 00:00:00 GMT\r\n")
            .status == 200);
  CHECK(fetch(s.port(), "/a.txt", "Range: bytes=0-1\r\nIf-Range: " + *whole.header("ETag") + "\r\n")
            .status == 200);
  // Overlapping ranges coalesce into one part: a single-range 206, no multipart.
  auto merged = fetch(s.port(), "/a.txt", "Range: bytes=1-3,2-5\r\n");
  CHECK(merged.status == 206);
  CHECK(merged.header("Content-Range") == "bytes 1-5/10");
  CHECK(merged.body == "12345");
  // Invalid syntax is ignored (RFC 9110 §14.2).
  CHECK(fetch(s.port(), "/a.txt", "Range: bytes=5-2\r\n").status == 200);

  TestServer few(TestType::name, site.app({.ranges = {.max_ranges = 2}}));
  CHECK(fetch(few.port(), "/a.txt", "Range: bytes=0-0,2-2\r\n").status == 206);
  auto three = fetch(few.port(), "/a.txt", "Range: bytes=0-0,2-2,4-4\r\n");
  CHECK(three.status == 200);
  CHECK(three.body == "0123456789");
  TestServer off(TestType::name, site.app({.ranges = {.max_ranges = 0}}));
  auto plain = fetch(off.port(), "/a.txt", "Range: bytes=0-1\r\n");
  CHECK(plain.status == 200);
  CHECK_FALSE(plain.header("Accept-Ranges"));
}

TEMPLATE_TEST_CASE("Dotfiles are not there unless asked for", "[static][security]",
                   LITHE_BACKENDS) {
  Site site;
  site.write(".env", "SECRET=1");
  fs::create_directories(site.root / ".git");
  site.write(".git/config", "[core]");
  site.write("sub/.htpasswd", "admin:x");
  TestServer s(TestType::name, site.app());
  for (const char* path : {"/.env", "/.git/config", "/.git/", "/sub/.htpasswd", "/%2eenv",
                           "/sub%2f.htpasswd", "/./a.txt"}) {
    INFO(path);
    auto r = fetch(s.port(), path);
    CHECK(r.status == 404);
    CHECK(r.body.find("SECRET") == std::string::npos);
  }
  CHECK(fetch(s.port(), "/sub/../.env").status == 403); // ".." is still refused first
  CHECK(fetch(s.port(), "/a.txt").status == 200);

  // The middleware form: a dotfile is "not here", so the next app answers.
  App next = [](Env&) -> Response { return {200, {}, "next app"}; };
  TestServer mw_server(TestType::name, mw::static_files({.root = site.root.string()})(next));
  CHECK(fetch(mw_server.port(), "/.env").body == "next app");

  TestServer open(TestType::name, site.app({.dotfiles = true}));
  CHECK(fetch(open.port(), "/.env").body == "SECRET=1");
}

TEMPLATE_TEST_CASE("A FIFO in the root is refused at once and blocks no worker",
                   "[static][security]", LITHE_BACKENDS) {
  Site site;
  REQUIRE(::mkfifo((site.root / "pipe").c_str(), 0644) == 0);
  fs::create_directories(site.root / "fifodir");
  REQUIRE(::mkfifo((site.root / "fifodir/index.html").c_str(), 0644) == 0);
  TestServer s(TestType::name, site.app());
  FifoReleaser release{{site.root / "pipe", site.root / "fifodir/index.html"}};
  for (const char* path : {"/pipe", "/fifodir/"}) {
    INFO(path);
    RawClient c(s.port());
    c.send(get(path));
    auto r = c.read_response(3s);
    REQUIRE(r);
    CHECK(r->status == 404);
  }
  CHECK(fetch(s.port(), "/a.txt").status == 200); // the one worker is free
}

TEST_CASE("lithe-static refuses to start without --root", "[static][apps]") {
  // build/tests/integration/conformance_test -> build/apps/lithe-static
  fs::path app = fs::read_symlink("/proc/self/exe").parent_path().parent_path().parent_path() /
                 "apps" / "lithe-static";
  if (!fs::exists(app)) {
    WARN("lithe-static is not built here: " << app);
    return;
  }
  auto r = run_process({app.string(), "--port", "0"}, 10s);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--root") != std::string::npos);
  CHECK(r.out.find("listening") == std::string::npos);
}
