// The HTTP/1.1 engine's hot path without sockets: request bytes in through a TransportHandler,
// the app called, response bytes out through try_write. Parsing, env building, the app,
// serialisation and the output queue, exactly as a backend drives them. The `allocs/req`
// counter counts operator new calls per request in steady state (the hello path's target is 0).
#include <lithe/http.hpp>
#include <lithe/lithe.hpp>
#include <lithe/manual_loop.hpp>

#include "fake_transport.hpp" // the engine's test driver (tests/support)

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

namespace {
std::atomic<std::uint64_t> allocations{0};
}

// Counting operator new for the whole benchmark binary. g++ cannot see that the replaced
// operator delete below pairs with it and warns at every inlined new/delete pair.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t n) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace {

const lithe::App hello = [](lithe::Env& env) -> lithe::Response {
  if (env.path() == "/") return {200, {{"Content-Type", "text/plain"}}, "Hello, World!"};
  return {404, {}, "Not Found\n"};
};

constexpr std::string_view request = "GET / HTTP/1.1\r\n"
                                     "Host: localhost:8080\r\n"
                                     "User-Agent: wrk\r\n"
                                     "Accept: */*\r\n"
                                     "\r\n";

void run(benchmark::State& state, const lithe::App& app, int depth) {
  lithe::ManualLoop loop;
  lithe::ManualLoop::Scope scope(loop);
  auto service = lithe::http_service(app)(loop, lithe::ListenInfo{8080, false});
  lithe::fuzz::FakeTransport t(loop); // takes every byte, counts them, keeps none
  t.attach(service->accept(t));
  std::string burst;
  for (int i = 0; i < depth; ++i)
    burst += request;
  for (int i = 0; i < 100; ++i) { // warm up pools and buffers
    t.read(burst);
    t.settle();
  }
  std::uint64_t before = allocations.load();
  for (auto _ : state) {
    t.read(burst);
    t.settle();
  }
  const double requests = static_cast<double>(state.iterations()) * depth;
  state.counters["allocs/req"] = static_cast<double>(allocations.load() - before) / requests;
  state.SetItemsProcessed(static_cast<std::int64_t>(requests));
  state.SetBytesProcessed(static_cast<std::int64_t>(t.written()));
  if (!t.open()) state.SkipWithError("the engine closed the connection");
  t.reset();
}

void BM_hello_keepalive(benchmark::State& state) {
  run(state, hello, 1);
}
BENCHMARK(BM_hello_keepalive);

void BM_hello_pipelined16(benchmark::State& state) {
  run(state, hello, 16);
}
BENCHMARK(BM_hello_pipelined16);

void BM_hello_five_passthrough_middleware(benchmark::State& state) {
  lithe::Middleware pass = [](lithe::App next) -> lithe::App {
    return [next](lithe::Env& env) { return next(env); };
  };
  lithe::App app = lithe::Builder([&](lithe::Builder& b) {
                     for (int i = 0; i < 5; ++i)
                       b.use(pass);
                     b.run(hello);
                   }).to_app();
  run(state, app, 1);
}
BENCHMARK(BM_hello_five_passthrough_middleware);

void BM_async_next_tick(benchmark::State& state) {
  lithe::App app = [](lithe::Env& env) -> lithe::Response {
    env.loop().next_tick([cb = env.async_callback()] { cb({200, {}, "later"}); });
    return lithe::async;
  };
  run(state, app, 1);
}
BENCHMARK(BM_async_next_tick);

} // namespace
