#include <catch2/catch.hpp>
#include <lithe/lithe.hpp>

#include <atomic>
#include <thread>

using namespace lithe;

TEST_CASE("The async sentinel answers later from a timer") {
  MockRequest req([](Env& env) -> Response {
    env.loop().add_timer(Millis(1000), [cb = env.async_callback()] {
      CHECK(cb({200, {}, "late"}));
    });
    return async;
  });
  auto start = req.loop().now();
  MockResponse r = req.get("/delay");
  CHECK(r.status == 200);
  CHECK(r.body == "late");
  CHECK(req.loop().now() - start >= Millis(1000)); // virtual time moved, not real time
}

TEST_CASE("The async callback may be called from another thread") {
  std::thread worker;
  MockRequest req([&worker](Env& env) -> Response {
    worker = std::thread([cb = env.async_callback()] { cb({200, {}, "from a thread"}); });
    return async;
  });
  MockResponse r = req.get("/");
  worker.join();
  CHECK(r.body == "from a thread");
}

TEST_CASE("The async callback called before call returns is sent once call returns") {
  MockResponse r = MockRequest([](Env& env) -> Response {
                     env.async_callback()({200, {}, "early"});
                     return async;
                   }).get("/");
  CHECK(r.body == "early");
}

TEST_CASE("A deferrable body is written over time and ends at succeed") {
  MockResponse r = MockRequest([](Env& env) -> Response {
                     DeferrableBody body;
                     env.loop().add_timer(Millis(10), [body] { body.write("Woah, async!\n"); });
                     env.loop().add_timer(Millis(20), [body] {
                       body.write("Cheers then!\n");
                       body.succeed();
                     });
                     return {200, {{"Content-Type", "text/plain"}}, body};
                   }).get("/");
  CHECK(r.body == "Woah, async!\nCheers then!\n");
  CHECK(r.reason == CloseReason::done);
}

TEST_CASE("Thin's pattern: the callback gets a deferrable body written afterwards") {
  MockResponse r = MockRequest([](Env& env) -> Response {
                     env.loop().next_tick([cb = env.async_callback(), &loop = env.loop()] {
                       DeferrableBody body;
                       cb({200, {}, body});
                       body.write("a");
                       loop.add_timer(Millis(5), [body] {
                         body.write("b");
                         body.succeed();
                       });
                     });
                     return async;
                   }).get("/");
  CHECK(r.body == "ab");
}

TEST_CASE("Body filters transform every chunk and flush at the end") {
  MockResponse r = MockRequest([](Env&) -> Response {
                     DeferrableBody body;
                     body.add_filter([](std::string_view chunk, bool last) {
                       return last ? std::string("!") : std::string(chunk) + std::string(chunk);
                     });
                     body.write("ab");
                     body.succeed();
                     return {200, {}, body};
                   }).get("/");
  CHECK(r.body == "abab!");
}

TEST_CASE("Close and finish hooks run exactly once, in that order, with the reason") {
  std::string log;
  MockResponse r =
      MockRequest([&log](Env& env) -> Response {
        env.on_close(
            [&log](CloseReason why) { log += "close:" + std::string(to_string(why)) + ";"; });
        env.on_finished([&log](Env&, const Outcome& o) {
          log += "finish:" + std::to_string(o.status) + ":" + std::to_string(o.body_bytes) + ";";
        });
        return {200, {}, "12345"};
      }).get("/");
  CHECK(log == "close:done;finish:200:5;");
}

TEST_CASE("A body's on_close learns that the client left, and writes then fail") {
  CloseReason why = CloseReason::done;
  bool write_after = true;
  MockOptions o;
  o.client_leaves_after = Millis(50);
  MockRequest req([&](Env& env) -> Response {
    DeferrableBody body;
    body.on_close([&why](CloseReason r) { why = r; });
    env.loop().add_timer(Millis(100), [body, &write_after] {
      write_after = body.write("too late");
      body.succeed();
    });
    return {200, {}, body};
  });
  req.request("GET", "/", o);
  req.loop().advance(Millis(200));
  CHECK(why == CloseReason::client_gone);
  CHECK_FALSE(write_after);
}
