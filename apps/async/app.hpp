// lithe-async's app: the seeds' async examples in lithe's spelling.
//   GET /            async_sinatra's `aget '/' { body "Hello, World" }`: answered on the next tick
//   GET /deferrable  the same through a DeferrableBody written on the next tick
//   GET /respond     the explicit form: env.async_callback() called on the next tick
//   GET /async       Thin's AsyncApp: the head at once, "Woah, async!" after 1 s, then
//                    "Cheers then!" on the next tick
//   GET /long        a long computation on the server's thread pool (EM.defer); the loop stays
//                    free meanwhile, and a full pool answers 503
//   GET /delay/:n    answers after n milliseconds (async_sinatra's example uses seconds; the
//                    benchmark's /delay/1000 is one second)
//   GET /co/:n       /delay/:n as a coroutine: co_await lithe::sleep, then co_return
//   GET /stream/:n   n bytes (Content-Length) as a DeferrableBody written in 64 KiB chunks as
//                    fast as the client reads: writes while writable(), then waits for on_drain
#pragma once

#include <lithe/lithe.hpp>
#include <lithe/mw/router.hpp>

#include <algorithm>
#include <memory>
#include <string>

namespace async_app {

inline lithe::Response text(std::string s) {
  return {200, {{"Content-Type", "text/plain"}}, std::move(s)};
}

/// Writes the bytes still due into `body` in 64 KiB chunks until a write reports the
/// connection's unsent bytes at the high-water mark; on_drain calls it again. Memory stays
/// within the mark plus one chunk however slowly the client reads.
inline void pump(const lithe::DeferrableBody& body, std::uint64_t& left) {
  static const std::string chunk(64 * 1024, 'x');
  while (left > 0) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, chunk.size()));
    left -= n;
    if (!body.write(std::string_view(chunk.data(), n))) break;
  }
  if (left == 0) body.succeed();
}

inline lithe::mw::Router app() {
  using lithe::mw::AsyncRequest;
  lithe::mw::Router r;
  r.aget("/", [](AsyncRequest req) {
    req.async_schedule([](AsyncRequest later) { later.body("Hello, World"); });
  });
  r.get("/deferrable", [](lithe::Env& env) -> lithe::Response {
    lithe::DeferrableBody body;
    env.loop().next_tick([body] {
      body.write(std::string_view("Hello, World"));
      body.succeed();
    });
    return {200, {{"Content-Type", "text/plain"}}, body};
  });
  r.get("/respond", [](lithe::Env& env) -> lithe::Response {
    env.loop().next_tick([cb = env.async_callback()] { cb(text("Hello, World")); });
    return lithe::async;
  });
  r.get("/async", [](lithe::Env& env) -> lithe::Response {
    lithe::DeferrableBody body;
    lithe::Loop& loop = env.loop();
    loop.next_tick([cb = env.async_callback(), body] {
      cb({200, {{"Content-Type", "text/plain"}}, body});
    });
    lithe::TimerId t = loop.add_timer(lithe::Millis(1000), [body, &loop] {
      body.write(std::string_view("Woah, async!\n"));
      loop.next_tick([body] {
        body.write(std::string_view("Cheers then!"));
        body.succeed();
      });
    });
    env.on_close([&loop, t](lithe::CloseReason) { loop.cancel_timer(t); });
    return lithe::async;
  });
  r.get("/long", [](lithe::Env& env) -> lithe::Response {
    // The work runs on the pool; `done` answers on the loop. A client that left meanwhile
    // makes the callback a no-op; a full pool refuses at once.
    auto sum = std::make_shared<std::uint64_t>(0);
    bool queued = env.loop().defer(
        [sum] {
          for (std::uint64_t i = 0; i < 50'000'000; ++i)
            *sum += i % 7;
        },
        [sum, cb = env.async_callback()] { cb(text("computed " + std::to_string(*sum) + "\n")); });
    if (!queued)
      return {503, {{"Content-Type", "text/plain"}, {"Retry-After", "1"}}, "busy: try again\n"};
    return lithe::async;
  });
  r.get("/delay/:n", [](lithe::Env& env) -> lithe::Response {
    auto n = lithe::parse_u64(env.param("n").value_or(""));
    if (!n || *n > 600'000) return {400, {}, "n must be 0..600000 milliseconds\n"};
    lithe::Loop& loop = env.loop();
    lithe::TimerId t = loop.add_timer(lithe::Millis(*n), [cb = env.async_callback(), ms = *n] {
      cb(text("waited " + std::to_string(ms) + " ms\n"));
    });
    env.on_close([&loop, t](lithe::CloseReason) { loop.cancel_timer(t); });
    return lithe::async;
  });
  r.get("/co/:n", [](lithe::Env& env) -> lithe::Co<lithe::Response> {
    auto n = lithe::parse_u64(env.param("n").value_or(""));
    if (!n || *n > 600'000)
      co_return lithe::Response{400, {}, "n must be 0..600000 milliseconds\n"};
    co_await lithe::sleep(lithe::Millis(*n));
    co_return text("waited " + std::to_string(*n) + " ms in a coroutine\n");
  });
  r.get("/stream/:n", [](lithe::Env& env) -> lithe::Response {
    auto n = lithe::parse_u64(env.param("n").value_or(""));
    if (!n) return {400, {}, "n must be a byte count\n"};
    lithe::DeferrableBody body;
    auto left = std::make_shared<std::uint64_t>(*n);
    body.on_drain([body, left] { pump(body, *left); }); // held until the body closes
    env.loop().next_tick([body, left] { pump(body, *left); });
    return {200,
            {{"Content-Type", "application/octet-stream"}, {"Content-Length", std::to_string(*n)}},
            body};
  });
  return r;
}

} // namespace async_app
