// Route matching with 100 routes (a REST-like API: literals, params, a few splats), for a hit
// deep in the table and for a miss, through the Router as an App with a minimal env.
#include <lithe/lithe.hpp>
#include <lithe/mock_request.hpp>
#include <lithe/mw/router.hpp>

#include <benchmark/benchmark.h>

namespace {

lithe::mw::Router hundred_routes() {
  lithe::mw::Router r;
  auto ok = [](lithe::Env&) -> lithe::Response { return {200, {}, "ok"}; };
  const char* resources[] = {"users", "posts",  "comments", "tags",    "files",
                             "teams", "orders", "items",    "reviews", "events"};
  for (const char* res : resources) {
    std::string base = std::string("/api/v1/") + res;
    r.get(base, ok);
    r.post(base, ok);
    r.get(base + "/:id", ok);
    r.put(base + "/:id", ok);
    r.del(base + "/:id", ok);
    r.get(base + "/:id/history", ok);
    r.get(base + "/:id/related/:other", ok);
    r.get(base + "/:id/files/*", ok);
    r.get(base + "/search/:term", ok);
    r.get(base + "/export.:format", ok);
  }
  return r;
}

void match(benchmark::State& state, std::string_view target) {
  lithe::mw::Router r = hundred_routes();
  lithe::MockRequest m(r);
  lithe::MockOptions o;
  o.lint = false;
  // MockRequest builds a whole exchange; the difference to an empty app is the matching cost.
  for (auto _ : state)
    benchmark::DoNotOptimize(m.get(target, o).status);
}

void BM_router_hit(benchmark::State& state) {
  match(state, "/api/v1/events/42/related/7");
}
BENCHMARK(BM_router_hit);

void BM_router_miss(benchmark::State& state) {
  match(state, "/api/v2/nothing/here");
}
BENCHMARK(BM_router_miss);

void BM_router_baseline_no_router(benchmark::State& state) {
  lithe::MockRequest m([](lithe::Env&) -> lithe::Response { return {200, {}, "ok"}; });
  lithe::MockOptions o;
  o.lint = false;
  for (auto _ : state)
    benchmark::DoNotOptimize(m.get("/api/v1/events/42/related/7", o).status);
}
BENCHMARK(BM_router_baseline_no_router);

} // namespace
