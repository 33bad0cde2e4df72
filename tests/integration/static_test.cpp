// Static files over real sockets on every backend: validators, ranges, index files, gzip
// siblings, sendfile of a 1 MiB file, and every way out of the root refused.
#include "support/backends.hpp"
#include "support/net_client.hpp"

#include <lithe/mw/conditional_get.hpp>
#include <lithe/mw/deflater.hpp>
#include <lithe/mw/static.hpp>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

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
  App app() const {
    return Builder([this](Builder& b) {
             b.use(mw::conditional_get());
             b.use(mw::deflater());
             b.run(mw::files({.root = root.string()}));
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
