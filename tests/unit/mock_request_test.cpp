#include <catch2/catch.hpp>
#include <lithe/lithe.hpp>

#include <cstdio>
#include <fstream>
#include <stdexcept>

using namespace lithe;

TEST_CASE("MockRequest returns status, headers and body of an immediate response") {
  MockRequest req([](Env& env) -> Response {
    return {201, {{"X-Method", std::string(env.method())}}, std::string(env.body())};
  });
  MockResponse r = req.post("/items", "payload");
  CHECK(r.status == 201);
  CHECK(r.header("x-method") == "POST");
  CHECK(r.body == "payload");
  CHECK(r.finished);
  CHECK(r.reason == CloseReason::done);
}

TEST_CASE("An exception from the app becomes a 500, never a crash") {
  MockResponse r = MockRequest([](Env&) -> Response { throw std::runtime_error("boom"); }).get("/");
  CHECK(r.status == 500);
}

TEST_CASE("A chunks body is sent in order") {
  MockResponse r = MockRequest([](Env&) -> Response {
                     return {200, {}, Body::Chunks{"a", std::string("b"), "c"}};
                   }).get("/");
  CHECK(r.body == "abc");
}

TEST_CASE("A file range body sends exactly that range") {
  char path[] = "/tmp/lithe-mock-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, "0123456789", 10) == 10);
  close(fd);
  MockResponse r = MockRequest([&path](Env&) -> Response {
                     std::error_code ec;
                     File f = File::open(path, ec);
                     return {200, {}, FileRange{std::move(f), 2, 5}};
                   }).get("/");
  std::remove(path);
  CHECK(r.body == "23456");
}

TEST_CASE("A streaming body gets the writer after the head and ends when fn returns") {
  MockResponse r = MockRequest([](Env&) -> Response {
                     return {200, {}, stream([](DeferrableBody out) {
                               out.write("one ");
                               out.write(std::string("two"));
                             })};
                   }).get("/");
  CHECK(r.body == "one two");
  CHECK(r.chunks.size() == 2);
  CHECK(r.reason == CloseReason::done);
}

TEST_CASE("A keep_open stream stays open until the app ends it") {
  MockRequest req([](Env& env) -> Response {
    Loop& loop = env.loop();
    return {200,
            {},
            stream(
                [&loop](DeferrableBody out) {
                  auto n = std::make_shared<int>(0);
                  loop.add_periodic_timer(Millis(100), [out, n]() {
                    out.write("tick\n");
                    if (++*n == 3) out.succeed();
                  });
                },
                true)};
  });
  MockResponse r = req.get("/");
  CHECK(r.body == "tick\ntick\ntick\n");
  CHECK(r.finished);
}

TEST_CASE("A mock client that leaves fires on_close with client_gone") {
  CloseReason seen = CloseReason::done;
  int calls = 0;
  MockOptions o;
  o.client_leaves_after = Millis(500);
  MockResponse r =
      MockRequest([&](Env& env) -> Response {
        env.on_close([&](CloseReason why) {
          seen = why;
          ++calls;
        });
        env.loop().add_timer(Millis(5000), [cb = env.async_callback()] { CHECK_FALSE(cb({200})); });
        return async;
      }).request("GET", "/", o);
  CHECK(calls == 1);
  CHECK(seen == CloseReason::client_gone);
  CHECK(r.status == 0);
}
