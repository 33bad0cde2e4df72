// Router: Sinatra's patterns, 404/405, HEAD, filters, halt/pass, error handlers, mounting,
// params from the query and forms, and async_sinatra's helpers (MockRequest, virtual time).
#include <lithe/lithe.hpp>
#include <lithe/mock_request.hpp>
#include <lithe/mw/router.hpp>

#include <catch2/catch.hpp>

#include <stdexcept>

using namespace lithe;
using lithe::mw::Router;

namespace {
Response text(std::string s) {
  return {200, {{"Content-Type", "text/plain"}}, std::move(s)};
}
std::string p(Env& env, std::string_view name) {
  return std::string(env.param(name).value_or("<none>"));
}
} // namespace

TEST_CASE("Routes match literal paths, :params, splats, mixed segments and optional segments") {
  Router r;
  r.get("/", [](Env&) { return text("root"); });
  r.get("/hello/:name", [](Env& env) { return text("hello " + p(env, "name")); });
  r.get("/hello/world", [](Env&) { return text("the world"); });
  r.get("/say/*/to/*", [](Env& env) {
    auto s = mw::splats(env);
    return text(std::string(s.at(0)) + "->" + std::string(s.at(1)));
  });
  r.get("/download/*.*", [](Env& env) {
    auto s = mw::splats(env);
    return text(std::string(s.at(0)) + " dot " + std::string(s.at(1)));
  });
  r.get("/posts/:id?", [](Env& env) { return text("post " + p(env, "id")); });
  r.get("/files/*", [](Env& env) { return text("file " + p(env, "splat")); });
  MockRequest m(r);
  CHECK(m.get("/").body == "root");
  CHECK(m.get("/hello/bob").body == "hello bob");
  CHECK(m.get("/hello/world").body == "the world"); // a literal wins over a param
  CHECK(m.get("/hello/J%C3%BCrgen").body == "hello J\xC3\xBCrgen");
  CHECK(m.get("/say/hello/to/world").body == "hello->world");
  CHECK(m.get("/download/path/to/file.xml").body == "path/to/file dot xml");
  CHECK(m.get("/posts/7").body == "post 7");
  CHECK(m.get("/posts").body == "post <none>");
  CHECK(m.get("/files/a/b/c.txt").body == "file a/b/c.txt");
  CHECK(m.get("/hello").status == 404);
  CHECK(m.get("/hello/bob/extra").status == 404);
}

TEST_CASE("Regex routes match the whole path and number their groups") {
  Router r;
  r.route("GET", std::regex(R"(/archive/(\d{4})/(\d{2}))"),
          [](Env& env) { return text(p(env, "1") + "-" + p(env, "2")); });
  MockRequest m(r);
  CHECK(m.get("/archive/2026/11").body == "2026-11");
  CHECK(m.get("/archive/26/11").status == 404);
}

TEST_CASE("A path with other methods is 405 with Allow, and HEAD falls back to GET") {
  Router r;
  r.get("/thing", [](Env&) { return text("got"); });
  r.post("/thing", [](Env&) { return text("posted"); });
  r.del("/thing", [](Env&) { return text("deleted"); });
  MockRequest m(r);
  auto res = m.request("PUT", "/thing");
  CHECK(res.status == 405);
  CHECK(res.header("Allow") == "GET, POST, DELETE, HEAD");
  auto head = m.request("HEAD", "/thing");
  CHECK(head.status == 200);
  CHECK(m.request("DELETE", "/thing").body == "deleted");
}

TEST_CASE("Query and form params are decoded, and route params win a clash") {
  Router r;
  r.post("/search/:q",
         [](Env& env) { return text(p(env, "q") + "|" + p(env, "page") + "|" + p(env, "name")); });
  MockRequest m(r);
  MockOptions o;
  o.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  auto res = m.post("/search/cats?page=2&q=dogs", "name=J%C3%BCrgen+M", o);
  CHECK(res.body == "cats|2|J\xC3\xBCrgen M");
}

TEST_CASE("Filters run around routes, halt stops at once, pass tries the next route") {
  Router r;
  std::vector<std::string> seen;
  r.before([&seen](Env& env) {
    seen.push_back("before " + std::string(env.path()));
    if (env.header("x-deny")) mw::halt(403, "denied\n");
  });
  r.after([](Env&, Response& res) { res.headers.add("X-After", "yes"); });
  r.get("/a/:x", [](Env& env) -> Response {
    if (env.param("x") == "skip") mw::pass();
    return text("first");
  });
  r.get("/a/*", [](Env&) { return text("second"); });
  MockRequest m(r);
  auto res = m.get("/a/1");
  CHECK(res.body == "first");
  CHECK(res.header("X-After") == "yes");
  CHECK(m.get("/a/skip").body == "second");
  MockOptions deny;
  deny.headers = {{"X-Deny", "1"}};
  auto d = m.get("/a/1", deny);
  CHECK(d.status == 403);
  CHECK(d.body == "denied\n");
  CHECK(seen.size() == 4);
}

TEST_CASE("Error handlers answer per status and for exceptions, and the worker lives on") {
  Router r;
  r.get("/boom", [](Env&) -> Response { throw std::runtime_error("kaput"); });
  r.get("/gone", [](Env&) -> Response { mw::halt(410); });
  r.error(404, [](Env& env, int) -> Response {
    return {404, {}, "no " + std::string(env.path()) + " here\n"};
  });
  r.error(410, [](Env&, int) -> Response { return {410, {}, "long gone\n"}; });
  MockRequest m(r);
  auto boom = m.get("/boom");
  CHECK(boom.status == 500);
  CHECK(m.get("/nope").body == "no /nope here\n");
  CHECK(m.get("/gone").body == "long gone\n");
  r.on_exception([](Env&, const std::exception& e) -> Response {
    return {500, {}, std::string("caught: ") + e.what()};
  });
  CHECK(m.get("/boom").body == "caught: kaput");
}

TEST_CASE("A router used as middleware hands unmatched requests to the next app") {
  Router r;
  r.get("/api/ping", [](Env&) { return text("pong"); });
  App app = Builder([&r](Builder& b) {
              b.use(r.middleware());
              b.run([](Env&) -> Response { return {200, {}, "fallback"}; });
            }).to_app();
  MockRequest m(app);
  CHECK(m.get("/api/ping").body == "pong");
  CHECK(m.get("/other").body == "fallback");
  CHECK(m.request("POST", "/api/ping").body == "fallback");
}

TEST_CASE("A router mounted under map sees PATH_INFO below the prefix") {
  Router r;
  r.get("/users/:id", [](Env& env) {
    return text(std::string(env.script_name()) + " " + std::string(env.path()) + " " +
                p(env, "id"));
  });
  App app =
      Builder([&r](Builder& b) { b.map("/api", [&r](Builder& api) { api.run(r); }); }).to_app();
  MockRequest m(app);
  CHECK(m.get("/api/users/42").body == "/api /users/42 42");
  CHECK(m.get("/users/42").status == 404);
}

TEST_CASE("async_sinatra: aget answers later, async_schedule runs on the next tick") {
  Router r;
  r.aget("/delay/:n", [](mw::AsyncRequest req) {
    int n = std::stoi(req.param("n"));
    req.loop().add_timer(Millis(n), [req, n] {
      req.status(202);
      req.body("waited " + std::to_string(n) + " ms");
    });
  });
  r.aget("/tick", [](mw::AsyncRequest req) {
    req.async_schedule([](mw::AsyncRequest later) { later.body("Hello, World"); });
  });
  r.aget("/fails-later", [](mw::AsyncRequest req) {
    req.async_schedule([](mw::AsyncRequest) { throw std::runtime_error("late failure"); });
  });
  MockRequest m(r);
  auto d = m.get("/delay/250");
  CHECK(d.status == 202);
  CHECK(d.body == "waited 250 ms");
  CHECK(m.get("/tick").body == "Hello, World");
  CHECK(m.get("/fails-later").status == 500);
}

TEST_CASE("An async request whose client left drops its answer safely") {
  Router r;
  bool closed = false;
  r.aget("/slow", [&closed](mw::AsyncRequest req) {
    req.on_close([&closed](CloseReason) { closed = true; });
    req.loop().add_timer(Millis(5000), [req] {
      CHECK_FALSE(req.pending());
      req.body("too late");
    });
  });
  MockRequest m(r);
  MockOptions o;
  o.client_leaves_after = Millis(100);
  auto res = m.get("/slow", o);
  CHECK(res.reason == CloseReason::client_gone);
  CHECK(closed);
  m.loop().advance(Millis(6000)); // the timer fires after the client left: nothing breaks
}

TEST_CASE("A route, an aget handler or a scheduled callback that throws something other than a "
          "std::exception is answered 500") {
  Router r;
  r.get("/sync", [](Env&) -> Response { throw 42; });
  r.aget("/async", [](mw::AsyncRequest) { throw 42; });
  r.aget("/later",
         [](mw::AsyncRequest req) { req.async_schedule([](mw::AsyncRequest) { throw 42; }); });
  MockRequest m(r);
  Response shared = internal_server_error();
  for (const char* path : {"/sync", "/async", "/later"}) {
    auto res = m.get(path);
    INFO(path);
    CHECK(res.status == 500);
    CHECK(res.body == shared.body.to_string()); // the one shared 500 body (SPEC 1.4)
  }
  std::string seen;
  r.on_exception([&seen](Env&, const std::exception& e) -> Response {
    seen = e.what();
    return {500, {}, "handled"};
  });
  CHECK(m.get("/sync").body == "handled");
  CHECK(seen == "an exception that is not a std::exception");
  CHECK(m.get("/async").body == "handled");
}

TEST_CASE("An error handler that throws anything falls back to the router's own answer") {
  Router r;
  r.error(404, [](Env&, int) -> Response { throw 42; });
  r.error(500, [](Env&, int) -> Response { mw::halt(418); }); // Halt is no std::exception
  r.get("/boom", [](Env&) -> Response { throw std::runtime_error("kaput"); });
  r.on_exception([](Env&, const std::exception&) -> Response { throw 42; });
  MockRequest m(r);
  auto missing = m.get("/nope");
  CHECK(missing.status == 404);
  auto boom = m.get("/boom");
  CHECK(boom.status == 500);
  CHECK(boom.body == internal_server_error().body.to_string());
}

TEST_CASE("A path built to make a pattern backtrack is a miss within the matching budget") {
  mw::Router r;
  r.get("/download/*.*", [](Env& env) -> Response { return {200, {}, std::string(env.path())}; });
  std::string slashes;
  for (int i = 0; i < 3000; ++i)
    slashes += "a/"; // every split of every span is tried: millions of steps without a budget
  CHECK(MockRequest(r).get("/download/" + slashes).status == 404);
  CHECK(MockRequest(r).get("/download/a/b/file.tar.gz").status == 200); // still a match
}
