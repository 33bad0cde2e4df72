// The small standard middleware, each for an immediate and a late response: ContentLength,
// Head, ShowExceptions, Runtime, ETag, ConditionalGet, Timeout, Deflater.
#include <lithe/lithe.hpp>
#include <lithe/mock_request.hpp>
#include <lithe/mw/conditional_get.hpp>
#include <lithe/mw/content_length.hpp>
#include <lithe/mw/deflater.hpp>
#include <lithe/mw/etag.hpp>
#include <lithe/mw/head.hpp>
#include <lithe/mw/runtime.hpp>
#include <lithe/mw/show_exceptions.hpp>
#include <lithe/mw/timeout.hpp>

#include <catch2/catch.hpp>

#include <stdexcept>
#include <zlib.h>

using namespace lithe;

namespace {
App immediate(std::string body, std::string type = "text/plain") {
  return [body, type](Env&) -> Response { return {200, {{"Content-Type", type}}, body}; };
}
App late(std::string body, std::string type = "text/plain", Millis after = Millis(10)) {
  return [body, type, after](Env& env) -> Response {
    env.loop().add_timer(after, [cb = env.async_callback(), body, type] {
      cb({200, {{"Content-Type", type}}, body});
    });
    return async;
  };
}
std::string gunzip(const std::string& in) {
  z_stream z{};
  inflateInit2(&z, 15 + 16);
  std::string out(1 << 20, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  inflate(&z, Z_FINISH);
  out.resize(z.total_out);
  inflateEnd(&z);
  return out;
}
} // namespace

TEST_CASE("ContentLength sets the length of known bodies, immediate or late") {
  for (App app : {immediate("hello"), late("hello")}) {
    MockRequest m(mw::content_length()(app));
    CHECK(m.get("/").header("Content-Length") == "5");
  }
}

TEST_CASE("Head drops the body and keeps the length") {
  MockRequest m(mw::head()(immediate("hello")));
  auto r = m.request("HEAD", "/");
  CHECK(r.body.empty());
  CHECK(r.header("Content-Length") == "5");
  CHECK(m.get("/").body == "hello");
}

TEST_CASE("ShowExceptions turns an exception into a 500 page, details only in development") {
  App boom = [](Env&) -> Response { throw std::runtime_error("secret detail"); };
  MockRequest prod(mw::show_exceptions()(boom));
  auto r = prod.get("/x");
  CHECK(r.status == 500);
  CHECK(r.body.find("secret") == std::string::npos);
  MockRequest dev(mw::show_exceptions({.development = true})(boom));
  MockOptions html;
  html.headers = {{"Accept", "text/html"}};
  auto d = dev.get("/x", html);
  CHECK(d.header("Content-Type") == "text/html; charset=utf-8");
  CHECK(d.body.find("secret detail") != std::string::npos);
}

TEST_CASE("ShowExceptions catches throws that are not std::exceptions, with the shared 500") {
  App boom = [](Env&) -> Response { throw 42; };
  auto r = MockRequest(mw::show_exceptions()(boom)).get("/x");
  Response shared = internal_server_error();
  CHECK(r.status == 500);
  CHECK(r.header("Content-Type") == shared.headers.get("content-type"));
  CHECK(r.body == shared.body.to_string());
  auto d = MockRequest(mw::show_exceptions({.development = true})(boom)).get("/x");
  CHECK(d.status == 500);
  CHECK(d.body.find("unknown exception") != std::string::npos);
}

TEST_CASE("Runtime times the response, a late one until it arrives") {
  MockRequest m(mw::runtime()(late("x", "text/plain", Millis(250))));
  auto r = m.get("/");
  REQUIRE(r.header("X-Runtime"));
  CHECK(std::stod(std::string(*r.header("X-Runtime"))) == Approx(0.25));
  MockRequest named(mw::runtime("app")(immediate("x")));
  CHECK(named.get("/").header("X-Runtime-app"));
}

TEST_CASE("ETag and ConditionalGet answer 304 to a matching If-None-Match, late or not") {
  for (App app : {immediate("body"), late("body")}) {
    App stack = mw::conditional_get()(mw::etag()(app));
    MockRequest m(stack);
    auto first = m.get("/");
    REQUIRE(first.header("ETag"));
    MockOptions o;
    o.headers = {{"If-None-Match", std::string(*first.header("ETag"))}};
    auto again = m.get("/", o);
    CHECK(again.status == 304);
    CHECK(again.body.empty());
    o.headers = {{"If-None-Match", "W/\"other\""}};
    CHECK(m.get("/", o).status == 200);
  }
}

TEST_CASE("ConditionalGet honours If-Modified-Since against Last-Modified") {
  App app = [](Env&) -> Response {
    return {200, {{"Last-Modified", "Tue, 24 Nov 2026 10:00:00 GMT"}}, "x"};
  };
  MockRequest m(mw::conditional_get()(app));
  MockOptions o;
  o.headers = {{"If-Modified-Since", "Tue, 24 Nov 2026 11:00:00 GMT"}};
  CHECK(m.get("/", o).status == 304);
  o.headers = {{"If-Modified-Since", "Tue, 24 Nov 2026 09:00:00 GMT"}};
  CHECK(m.get("/", o).status == 200);
}

TEST_CASE("Timeout answers 503 when a late response is too slow, and the app's on_close runs") {
  bool cancelled = false;
  App slow = [&cancelled](Env& env) -> Response {
    env.on_close([&cancelled](CloseReason why) { cancelled = why == CloseReason::timeout; });
    env.loop().add_timer(Millis(5000), [cb = env.async_callback()] { cb({200, {}, "late"}); });
    return async;
  };
  MockRequest m(mw::timeout(Millis(1000))(slow));
  auto r = m.get("/");
  CHECK(r.status == 503);
  CHECK(cancelled);
  MockRequest quick(mw::timeout(Millis(1000))(late("fine")));
  CHECK(quick.get("/").body == "fine");
}

TEST_CASE("Deflater gzips by Accept-Encoding, skips what it should, streams chunk by chunk") {
  std::string text(4000, 'a');
  MockOptions gz;
  gz.headers = {{"Accept-Encoding", "br;q=1, gzip;q=0.8"}};
  MockRequest m(mw::deflater()(immediate(text)));
  auto r = m.get("/", gz);
  CHECK(r.header("Content-Encoding") == "gzip");
  CHECK(r.header("Vary") == "Accept-Encoding");
  CHECK(gunzip(r.body) == text);
  CHECK_FALSE(m.get("/").header("Content-Encoding")); // not asked for
  MockOptions refused;
  refused.headers = {{"Accept-Encoding", "gzip;q=0"}};
  CHECK_FALSE(m.get("/", refused).header("Content-Encoding"));
  MockRequest small(mw::deflater()(immediate("tiny")));
  CHECK_FALSE(small.get("/", gz).header("Content-Encoding"));
  MockRequest png(mw::deflater()(immediate(text, "image/png")));
  CHECK_FALSE(png.get("/", gz).header("Content-Encoding"));

  App streamed = [](Env&) -> Response {
    return {200, {{"Content-Type", "text/event-stream"}}, stream([](DeferrableBody out) {
              out.write(std::string_view("data: one\n\n"));
              out.write(std::string_view("data: two\n\n"));
            })};
  };
  MockRequest s(mw::deflater()(streamed));
  auto sr = s.get("/", gz);
  CHECK(sr.header("Content-Encoding") == "gzip");
  REQUIRE(sr.chunks.size() >= 2); // one compressed chunk per write, each flushed
  CHECK(gunzip(sr.body) == "data: one\n\ndata: two\n\n");
  CHECK(mw::accept_q("gzip, deflate", "gzip") == 1);
  CHECK(mw::accept_q("*;q=0.5", "gzip") == 0.5);
  CHECK(mw::accept_q("deflate", "gzip") == 0);
}
