#include <catch2/catch.hpp>
#include <lithe/lithe.hpp>

#include <string>

using namespace lithe;

namespace {
App echo_paths(std::string tag) {
  return [tag](Env& env) -> Response {
    return {200, {}, tag + " " + std::string(env.script_name()) + "|" + std::string(env.path())};
  };
}
Middleware add_header(std::string name) {
  return [name](App next) -> App {
    return [name, next](Env& env) {
      Response r = next(env);
      return env.then(std::move(r), [name](Env&, Response r) {
        r.headers.add(name, "1");
        return r;
      });
    };
  };
}
} // namespace

TEST_CASE("Builder applies middleware outermost first") {
  std::string order;
  Builder b;
  b.use([&order](App next) -> App {
    return [&order, next](Env& env) {
      order += "a";
      return next(env);
    };
  });
  b.use([&order](App next) -> App {
    return [&order, next](Env& env) {
      order += "b";
      return next(env);
    };
  });
  b.run([&order](Env&) -> Response {
    order += "app";
    return {204};
  });
  MockRequest(b.to_app()).get("/");
  CHECK(order == "abapp");
}

TEST_CASE("map splits SCRIPT_NAME and PATH_INFO, longest prefix first") {
  Builder b;
  b.map("/api", [](Builder& api) { api.run(echo_paths("api")); });
  b.map("/api/v2", [](Builder& v2) { v2.run(echo_paths("v2")); });
  b.run(echo_paths("root"));
  MockRequest req(b.to_app());
  CHECK(req.get("/api/users").body == "api /api|/users");
  CHECK(req.get("/api").body == "api /api|");
  CHECK(req.get("/api/v2/x").body == "v2 /api/v2|/x");
  CHECK(req.get("/apix").body == "root |/apix");
  CHECK(req.get("/").body == "root |/");
}

TEST_CASE("map nests and restores the env after the inner app returns") {
  Builder b;
  b.map("/a", [](Builder& a) { a.map("/b", [](Builder& ab) { ab.run(echo_paths("ab")); }); });
  App app = b.to_app();
  MockRequest req([app](Env& env) -> Response {
    Response r = app(env);
    CHECK(env.script_name().empty());
    CHECK(env.path() == "/a/b/c");
    return r;
  });
  CHECK(req.get("/a/b/c").body == "ab /a/b|/c");
}

TEST_CASE("map answers 404 with X-Cascade when nothing matches") {
  Builder b;
  b.map("/only", [](Builder& o) { o.run(echo_paths("o")); });
  MockResponse r = MockRequest(b.to_app()).get("/other");
  CHECK(r.status == 404);
  CHECK(r.header("X-Cascade") == "pass");
}

TEST_CASE("Builder without run or map refuses to build") {
  Builder b;
  CHECK_THROWS_AS(b.to_app(), std::logic_error);
}

TEST_CASE("A middleware transforms a late response exactly as an immediate one") {
  App immediate = [](Env&) -> Response { return {200, {}, "now"}; };
  App late = [](Env& env) -> Response {
    env.loop().add_timer(Millis(50), [cb = env.async_callback()] { cb({200, {}, "later"}); });
    return async;
  };
  for (App inner : {immediate, late}) {
    Builder b;
    b.use(add_header("X-Outer"));
    b.use(add_header("X-Inner"));
    b.run(inner);
    MockResponse r = MockRequest(b.to_app()).get("/");
    CHECK(r.status == 200);
    REQUIRE(r.headers.size() == 2);
    CHECK(r.headers[0].first == "X-Inner"); // inner middleware saw it first
    CHECK(r.headers[1].first == "X-Outer");
  }
}
