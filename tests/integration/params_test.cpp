// Params over real sockets on every backend, with curl: multipart uploads (fields, several
// files, a 20 MB file streamed to disk and its SHA-256 checked), urlencoded forms with nested
// names, bodies streamed or whole, and each limit answered 413/400 with its reason.
#include "support/backends.hpp"
#include "support/net_client.hpp"

#include <lithe/mw/params.hpp>

#include <catch2/catch.hpp>

#include <openssl/evp.h>

#include <cstdio>
#include <fstream>
#include <unistd.h>

using namespace lithe;
using namespace lithe::test;

namespace {

std::string sha256_of_fd(int fd) {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  EVP_DigestInit_ex(md, EVP_sha256(), nullptr);
  char buf[1 << 16];
  off_t at = 0;
  for (ssize_t n; (n = ::pread(fd, buf, sizeof buf, at)) > 0; at += n)
    EVP_DigestUpdate(md, buf, static_cast<std::size_t>(n));
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(md, d, &len);
  EVP_MD_CTX_free(md);
  std::string hex;
  char two[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(two, sizeof two, "%02x", d[i]);
    hex += two;
  }
  return hex;
}

/// Answers what params decoded: "name=value" lines by Rack name, files with size and digest.
App echo(mw::ParamsOptions o = {}) {
  return Builder([&](Builder& b) {
           b.use(mw::params(std::move(o)));
           b.run([](Env& env) -> Response {
             const mw::Params& p = mw::params(env);
             std::string out;
             for (std::string_view name : p.names()) {
               mw::Param c = p.child(name);
               if (c.is_string()) out += std::string(name) + "=" + std::string(c.str()) + "\n";
               if (const mw::UploadedFile* f = c.file())
                 out += std::string(name) + ": " + f->filename + " " + f->content_type + " " +
                        std::to_string(f->size) + " " + sha256_of_fd(f->file.fd()) + "\n";
               if (c.is_hash() || c.is_list())
                 for (mw::Param e : c)
                   out += std::string(name) + "[" + std::string(e.key()) +
                          "]=" + std::string(e.str()) + "\n";
             }
             return {200, {{"Content-Type", "text/plain"}}, out};
           });
         })
      .to_app();
}

HttpOptions streaming(bool on) {
  HttpOptions o;
  o.stream_bodies = on;
  o.max_body_bytes = 1 << 20;
  return o;
}

/// A file in /tmp, removed with the object.
struct TempFile {
  std::string path;
  explicit TempFile(std::string_view bytes) {
    char name[] = "/tmp/lithe-params-test-XXXXXX";
    int fd = ::mkstemp(name);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
    ::close(fd);
    path = name;
  }
  ~TempFile() { ::unlink(path.c_str()); }
  std::string sha256() const {
    auto r = run_process({"sha256sum", path});
    return r.out.substr(0, 64);
  }
};

} // namespace

TEMPLATE_TEST_CASE("curl -F sends fields and several files, which the app gets spooled to disk",
                   "[params][curl]", LITHE_BACKENDS) {
  for (bool stream : {true, false}) {
    TestServer s(TestType::name, echo(), streaming(stream));
    TempFile a("first file\n"), b(std::string(5000, 'b'));
    auto r = run_process(s.curl({"-F", "title=Hello world", "-F", "a=@" + a.path + ";type=text/x-a",
                                 "-F", "b=@" + b.path + ";filename=b.bin", s.url("/up")}));
    CHECK(r.exit_code == 0);
    CHECK(r.out == "title=Hello world\n"
                   "a: " +
                       a.path.substr(5) + " text/x-a 11 " + a.sha256() +
                       "\n"
                       "b: b.bin application/octet-stream 5000 " +
                       b.sha256() + "\n");
  }
}

TEMPLATE_TEST_CASE("A 20 MB file streams to disk with its SHA-256 intact, sent with a length "
                   "and chunked",
                   "[params][curl]", LITHE_BACKENDS) {
  TestServer s(TestType::name, echo(), streaming(true));
  TempFile big(big_body(20 << 20));
  std::string want = "note=big\nbig: blob application/octet-stream 20971520 " + big.sha256() + "\n";
  auto r = run_process(
      s.curl({"-F", "note=big", "-F", "big=@" + big.path + ";filename=blob", s.url("/up")}), 60s);
  CHECK(r.exit_code == 0);
  CHECK(r.out == want);
  r = run_process(s.curl({"-H", "Transfer-Encoding: chunked", "-F", "note=big", "-F",
                          "big=@" + big.path + ";filename=blob", s.url("/up")}),
                  60s);
  CHECK(r.exit_code == 0);
  CHECK(r.out == want);
}

TEMPLATE_TEST_CASE("An urlencoded form with nested names merges over the query string",
                   "[params][curl]", LITHE_BACKENDS) {
  for (bool stream : {true, false}) {
    TestServer s(TestType::name, echo(), streaming(stream));
    auto r =
        run_process(s.curl({"-g", "-d", "user[name]=Ann+Lee&tags[]=a&tags[]=b&q=body",
                            "--data-urlencode", "note=50% & more", s.url("/f?q=query&page=2")}));
    CHECK(r.exit_code == 0);
    CHECK(r.out == "user[name]=Ann Lee\ntags[]=a\ntags[]=b\nq=body\nnote=50% & more\npage=2\n");
  }
}

TEMPLATE_TEST_CASE("Limits reached over a socket are answered 413 or 400 with the reason",
                   "[params][curl]", LITHE_BACKENDS) {
  mw::ParamsOptions o;
  o.max_file_bytes = 1 << 20;
  o.max_parts = 3;
  o.max_depth = 4;
  TestServer s(TestType::name, echo(o), streaming(true));
  TempFile big(std::string((2 << 20) + 1, 'x'));
  auto code = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"-w", "\n%{http_code}"});
    args.push_back(s.url("/up"));
    return run_process(s.curl(std::move(args)), 30s).out;
  };
  CHECK(code({"-F", "f=@" + big.path}) ==
        "Payload Too Large: a file is larger than 1048576 bytes\n\n413");
  // Sent chunked, so refused as it streams; and with a length past every bound, at the head.
  auto r = run_process(s.curl({"-w", "\n%{http_code}", "-H", "Transfer-Encoding: chunked", "-F",
                               "f=@" + big.path, s.url("/up")}),
                       30s);
  CHECK(r.out == "Payload Too Large: a file is larger than 1048576 bytes\n\n413");
  o.max_files_bytes = 1 << 20;
  o.max_field_bytes = 4096;
  TestServer t(TestType::name, echo(o), streaming(true));
  r = run_process(t.curl({"-w", "\n%{http_code}", "-F", "f=@" + big.path, t.url("/up")}), 30s);
  CHECK(r.out == "Payload Too Large: the body is larger than 1110256 bytes\n\n413");
  CHECK(code({"-F", "a=1", "-F", "b=2", "-F", "c=3", "-F", "d=4"}) ==
        "Bad Request: multipart: too many parts\n\n400");
  CHECK(code({"-g", "-d", "a[b][c][d][e][f]=1"}) ==
        "Bad Request: the form: a parameter name is nested too deep\n\n400");
  CHECK(code({"-H", "Content-Type: multipart/form-data; boundary=x", "--data-binary",
              "--x\r\nno colon\r\n\r\n--x--"}) ==
        "Bad Request: multipart: a part has a malformed header line\n\n400");
}

TEMPLATE_TEST_CASE("A multipart body written a few bytes at a time parses the same", "[params]",
                   LITHE_BACKENDS) {
  TestServer s(TestType::name, echo(), streaming(true));
  RawClient c(s.port());
  std::string body = "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--X\r\n"
                     "--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"f.txt\"\r\n"
                     "Content-Type: text/plain\r\n\r\n\r\n--XyY\r--XyZ\r\n\r\n--XyZ--\r\n";
  REQUIRE(c.send("POST /p HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; "
                 "boundary=XyZ\r\nContent-Length: " +
                 std::to_string(body.size()) + "\r\n\r\n"));
  REQUIRE(c.send_in_pieces(body, 3));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body.starts_with("a=1\r\n--X\nf: f.txt text/plain 15 "));
}
