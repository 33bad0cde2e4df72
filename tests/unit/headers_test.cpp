#include <catch2/catch.hpp>
#include <lithe/headers.hpp>
#include <lithe/response.hpp>

TEST_CASE("Headers keep order and allow repeated names") {
  lithe::Headers h{{"Set-Cookie", "a=1"}, {"Content-Type", "text/plain"}};
  h.add("Set-Cookie", "b=2");
  REQUIRE(h.size() == 3);
  CHECK(h.begin()[2].value == "b=2");
  CHECK(h.get("content-type") == "text/plain");
  CHECK(h.get("set-cookie") == "a=1");
}

TEST_CASE("Headers set replaces every header of that name") {
  lithe::Headers h{{"X-A", "1"}, {"x-a", "2"}, {"X-B", "3"}};
  h.set("X-A", "9");
  CHECK(h.size() == 2);
  CHECK(h.get("X-A") == "9");
  CHECK(h.remove("x-b") == 1);
  CHECK_FALSE(h.has("X-B"));
}

TEST_CASE("A response built from literals borrows them") {
  lithe::Response r{200, {{"Content-Type", "text/plain"}}, "Hello, World!"};
  CHECK(r.headers.begin()->value.borrowed());
  CHECK(r.body.get_if<lithe::Str>()->borrowed());
  CHECK(r.body.size() == 13u);
  lithe::Response a = lithe::async;
  CHECK(a.is_async());
}

TEST_CASE("Statuses without a body are 1xx, 204 and 304") {
  CHECK(lithe::status_has_no_body(101));
  CHECK(lithe::status_has_no_body(204));
  CHECK(lithe::status_has_no_body(304));
  CHECK_FALSE(lithe::status_has_no_body(200));
  CHECK(lithe::reason_phrase(431) == "Request Header Fields Too Large");
}
