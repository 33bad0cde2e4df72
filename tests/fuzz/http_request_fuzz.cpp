// Fuzzes the HTTP/1.1 engine's request reader (RFC 9112; SPEC §10-11) through the real
// engine and a fake transport: request bytes split into reads anywhere, pipelined, with small
// limits (413/414/431), and each of the engine's ways for a connection to end.
#include "fake_transport.hpp"
#include "fuzz_input.hpp"

#include <lithe/lithe.hpp>

#include <stdexcept>

namespace {

using namespace lithe;

std::uint32_t touch(std::string_view s) {
  std::uint32_t sum = 0;
  for (unsigned char c : s)
    sum = sum * 31 + c;
  return sum;
}

// Reads every part of the env the engine built (so ASan checks each view), then answers
// the way the path asks: at once, late, streamed, deferred, failed, hijacked or thrown.
Response app(Env& env) {
  std::uint32_t sum = touch(env.method()) ^ touch(env.path()) ^ touch(env.query()) ^
                      touch(env.target()) ^ touch(env.server_name()) ^ touch(env.server_port()) ^
                      touch(env.protocol()) ^ touch(env.remote_addr()) ^ touch(env.body());
  for (const RequestHeader& h : env.headers())
    sum ^= touch(h.name) + touch(h.value);
  sum ^= touch(env["HTTP_HOST"]) ^ touch(env["HTTP_X_FUZZ"]) ^ touch(env.content_type()) ^
         touch(env.content_length());
  std::string text = std::string(env.method()) + " " + std::to_string(env.headers().size()) + " " +
                     std::to_string(env.body().size()) + " " + std::to_string(sum) + "\n";
  const Headers plain = {{"Content-Type", "text/plain"}};
  std::string_view path = env.path();
  // A streamed body (SPEC 2.13), read each way: pulled, pushed with pauses, in a coroutine,
  // or left unread past a low limit.
  if (path == "/read") {
    auto total = std::make_shared<std::size_t>(0);
    auto pull = std::make_shared<Function<void(InputChunk)>>();
    *pull = [&env, total, pull, cb = env.async_callback(), plain](InputChunk c) {
      *total += touch(c.data) & 0 ? 0 : c.data.size();
      if (!c.end) {
        env.input().read([pull](InputChunk next) { (*pull)(next); });
        return;
      }
      AsyncCallback done = cb; // copies: resetting *pull destroys this lambda's captures
      Response r{200, plain, std::to_string(*total) + "\n"};
      *pull = {}; // breaks the cycle
      done(std::move(r));
    };
    env.input().read([pull](InputChunk c) { (*pull)(c); });
    return async;
  }
  if (path == "/push") {
    Input& in = env.input();
    AsyncCallback cb = env.async_callback(); // keeps the env valid for the timers below
    in.on_data([&in, &env, cb](std::string_view d) {
      (void)touch(d);
      in.pause();
      env.loop().add_timer(Millis(3), [&in, cb] {
        if (cb.pending()) in.resume();
      });
    });
    in.on_end([cb, plain] { cb({200, plain, "pushed\n"}); });
    in.on_error([](InputError e) { (void)to_string(e); });
    return async;
  }
  if (path == "/co")
    return co_respond(env, [](Env& e) -> Co<Response> {
      std::size_t n = 0;
      for (;;) {
        InputChunk c = co_await e.input().read();
        if (c.end) break;
        n += touch(c.data) & 0 ? 0 : c.data.size();
      }
      co_return Response{200, {}, std::to_string(n)};
    }(env));
  if (path == "/limit") {
    env.input().set_limit(4);
    env.input().on_data([](std::string_view) {});
    env.input().on_end([cb = env.async_callback(), plain] { cb({200, plain, "small\n"}); });
    return async; // past the limit: the engine's 413
  }
  if (path == "/async") {
    env.loop().next_tick([cb = env.async_callback(), plain, text] { cb({200, plain, text}); });
    return async;
  }
  if (path == "/late") {
    env.loop().add_timer(Millis(10), [cb = env.async_callback(), plain, text] {
      cb({200, plain, text});
    });
    return async;
  }
  if (path == "/stream")
    return {200, plain, stream([text](DeferrableBody out) {
              out.write(text);
              out.write(std::string_view("more\n"));
            })};
  if (path == "/defer" || path == "/fail") {
    DeferrableBody out;
    out.write(text);
    bool ok = path == "/defer";
    env.loop().add_timer(Millis(5), [out, ok] {
      out.write(std::string_view("end\n"));
      ok ? out.succeed() : out.fail();
    });
    return {200, plain, out};
  }
  if (path == "/upgrade")
    return {101, {{"Connection", "Upgrade"}, {"Upgrade", "echo"}}, hijack([](Socket s) {
              s.on_data([s](std::string_view d) {
                s.write(d);
                if (d.find('q') != std::string_view::npos) s.close();
              });
            })};
  if (path == "/throw") throw std::runtime_error("the fuzz app threw");
  if (path == "/hooks") {
    env.on_close([](CloseReason) {});
    env.on_finished([](Env& e, const Outcome&) { (void)touch(e.path()); });
  }
  if (path == "/length") return {200, {{"Content-Length", "5"}}, "hello"};
  if (path == "/big") return {200, plain, std::string(70000, 'x')};
  if (path == "/none") return {204, {}, {}};
  return {200, plain, text};
}

HttpOptions options(std::uint8_t flags, bool stream) {
  HttpOptions o;
  o.stream_bodies = stream;
  switch (flags & 3) {
  case 0:
    o.max_header_bytes = 1024, o.max_uri_bytes = 256, o.max_headers = 16, o.max_body_bytes = 1024;
    break;
  case 1:
    o.max_header_bytes = 64, o.max_uri_bytes = 16, o.max_headers = 2, o.max_body_bytes = 8;
    break;
  case 2:
    o.max_header_bytes = 256, o.max_uri_bytes = 64, o.max_headers = 6, o.max_body_bytes = 100;
    break;
  default:
    break; // the defaults, 16 KiB heads and 1 MiB bodies
  }
  o.lint = flags & 4;
  lithe::fuzz::short_timeouts(o);
  if (flags & 0x40) o.high_water = 16;
  if (flags & 0x80) o.max_connection_memory = 2048; // the budget, not a limit, says 413
  return o;
}

} // namespace

// Input: flags, a write cap (its low bit: stream bodies), five 16-bit cut offsets, then the bytes
// the client sends.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  lithe::fuzz::FuzzInput in(data, size);
  std::uint8_t flags = in.byte();
  std::uint8_t second = in.byte();
  std::size_t cap = (flags & 0x20) ? 1 + second : 0;
  bool stream = second & 1; // bodies streamed to the app (SPEC 2.13)
  std::vector<std::size_t> cuts = lithe::fuzz::read_cuts(in, 5);
  std::string_view bytes = in.rest();
  auto ending = static_cast<lithe::fuzz::Ending>((flags >> 3) & 3);

  std::size_t lint_before = lithe::lint_violation_count();
  {
    lithe::fuzz::EngineHarness h(app, options(flags, stream), cap);
    h.feed(lithe::fuzz::split(bytes, std::move(cuts)));
    h.finish(ending);
  }
  lithe::fuzz::EngineHarness::check_lint(lint_before);
  return 0;
}
