// The README's code, compiled and run: the examples a new user copies must work.
#include <lithe/lithe.hpp>
#include <lithe/mock_request.hpp>
#include <lithe/mw/router.hpp>

#include <catch2/catch.hpp>

namespace {

lithe::App readme_app() {
  lithe::App app = [](lithe::Env& env) -> lithe::Response {
    if (env.path() == "/") return {200, {{"Content-Type", "text/plain"}}, "Hello, World!"};

    if (env.path() == "/later") { // Thin's async response
      env.loop().add_timer(lithe::Millis(1000), [cb = env.async_callback()] {
        cb({200, {{"Content-Type", "text/plain"}}, "a second later\n"});
      });
      return lithe::async;
    }

    if (env.path() == "/count") { // a body written over time, with backpressure
      lithe::DeferrableBody body;
      for (int i = 1; i <= 3; ++i)
        body.write(std::to_string(i) + "\n");
      body.succeed();
      return {200, {{"Content-Type", "text/plain"}}, body};
    }
    return {404, {}, "Not Found\n"};
  };
  return app;
}

} // namespace

TEST_CASE("The README's first app answers /, /later and /count") {
  lithe::MockRequest m(readme_app());
  CHECK(m.get("/").body == "Hello, World!");
  CHECK(m.get("/later").body == "a second later\n");
  CHECK(m.get("/count").body == "1\n2\n3\n");
}

TEST_CASE("The README's middleware sees late responses and the map mounts the API") {
  lithe::Middleware powered_by = [](lithe::App next) -> lithe::App {
    return [next](lithe::Env& env) {
      return env.then(next(env), [](lithe::Env&, lithe::Response r) {
        r.headers.add("X-Powered-By", "lithe");
        return r;
      });
    };
  };
  lithe::App api_app = [](lithe::Env& env) -> lithe::Response {
    return {200, {}, std::string(env.path())};
  };
  lithe::App app = readme_app();
  lithe::App stack = lithe::Builder([&](lithe::Builder& b) {
                       b.use(powered_by);
                       b.map("/api", [&](lithe::Builder& api) { api.run(api_app); });
                       b.run(app);
                     }).to_app();
  lithe::MockRequest m(stack);
  CHECK(m.get("/later").header("X-Powered-By") == "lithe");
  CHECK(m.get("/api/users").body == "/users");
}

TEST_CASE("The README's router answers params and async delays") {
  lithe::mw::Router r;
  r.get("/hello/:name", [](lithe::Env& env) -> lithe::Response {
    return {200, {}, "Hello, " + std::string(*env.param("name")) + "!\n"};
  });
  r.aget("/delay/:n", [](lithe::mw::AsyncRequest req) {
    int ms = std::stoi(req.param("n"));
    req.loop().add_timer(lithe::Millis(ms),
                         [req, ms] { req.body("waited " + std::to_string(ms) + " ms\n"); });
  });
  r.get("/nap", [](lithe::Env&) -> lithe::Co<lithe::Response> { // or as a coroutine
    co_await lithe::sleep(lithe::Millis(250));
    co_return lithe::Response{200, {}, "rested\n"};
  });
  r.websocket("/echo", {.on_message = [](lithe::mw::WebSocket& ws, std::string_view text) {
                ws.send(text);
              }});
  r.post("/count",
         [](lithe::Env& env) -> lithe::Co<lithe::Response> {
           std::uint64_t bytes = 0;
           for (lithe::InputChunk c; !(c = co_await env.input().read()).end;)
             bytes += c.data.size();
           co_return lithe::Response{200, {}, std::to_string(bytes) + " bytes\n"};
         },
         {.stream = true, .max_body = 8ULL << 30});
  lithe::MockRequest m(r);
  CHECK(m.post("/count", "12345").body == "5 bytes\n"); // a whole body reads the same way
  CHECK(m.get("/hello/ann").body == "Hello, ann!\n");
  CHECK(m.get("/delay/20").body == "waited 20 ms\n");
  CHECK(m.get("/nap").body == "rested\n");
}
