// client_ip's hot path: a Forwarded header and an X-Forwarded-For chain parsed, walked from the
// right and matched against a few CIDR blocks, as a request behind two proxies brings them.
#include <lithe/lithe.hpp>
#include <lithe/mw/client_ip.hpp>

#include <benchmark/benchmark.h>

namespace {

using namespace lithe;

void run(benchmark::State& state, mw::ForwardedHeader header, const char* name, const char* value) {
  mw::ClientIpResolver r({.trusted_proxies = {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                              "fd00::/8", "127.0.0.1"},
                          .header = header,
                          .set_scheme = true});
  App app = [&r](Env& env) -> Response {
    auto d = r.resolve(env);
    benchmark::DoNotOptimize(d);
    for (int i = 0; i < 999; ++i) { // amortise the mock's set-up over many resolutions
      d = r.resolve(env);
      benchmark::DoNotOptimize(d);
    }
    return {200, {}, ""};
  };
  MockRequest m(app);
  MockOptions o;
  o.remote_addr = "10.1.2.3";
  o.headers = {{name, value}, {"X-Forwarded-Proto", "https"}};
  o.lint = false;
  for (auto _ : state)
    m.get("/", o);
  state.SetItemsProcessed(state.iterations() * 1000);
}

void BM_ClientIp_XForwardedFor(benchmark::State& state) {
  run(state, mw::ForwardedHeader::x_forwarded_for, "X-Forwarded-For",
      "198.51.100.23, 203.0.113.7, 10.0.0.2");
}
BENCHMARK(BM_ClientIp_XForwardedFor);

void BM_ClientIp_Forwarded(benchmark::State& state) {
  run(state, mw::ForwardedHeader::forwarded, "Forwarded",
      "for=\"[2001:db8:cafe::17]:4711\";proto=https;by=10.0.0.1, for=10.0.0.2;proto=http");
}
BENCHMARK(BM_ClientIp_Forwarded);

void BM_Cidr_Match(benchmark::State& state) {
  auto block = *mw::parse_cidr("2001:db8::/32");
  auto ip = *mw::parse_ip("2001:db8:cafe::17");
  for (auto _ : state)
    benchmark::DoNotOptimize(block.contains(ip));
}
BENCHMARK(BM_Cidr_Match);

} // namespace
