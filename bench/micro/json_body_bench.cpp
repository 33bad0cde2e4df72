// The JSON module's bounded parse (mw::parse_json: SAX with the depth check) of a typical 1 KB
// API body, against nlohmann's own parse of the same text.
#include <lithe/mw/json_body.hpp>

#include <benchmark/benchmark.h>

namespace {

std::string typical_body() {
  nlohmann::json todos = nlohmann::json::array();
  for (int i = 0; todos.dump().size() < 1000; ++i)
    todos.push_back({{"id", i},
                     {"title", "write the docs for item " + std::to_string(i)},
                     {"done", i % 2 == 0},
                     {"tags", {"docs", "lithe"}}});
  return todos.dump();
}

void BM_Json_ParseBounded_1KB(benchmark::State& state) {
  std::string body = typical_body();
  for (auto _ : state) {
    auto r = lithe::mw::parse_json(body);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(body.size()));
}
BENCHMARK(BM_Json_ParseBounded_1KB);

void BM_Json_ParseNlohmann_1KB(benchmark::State& state) {
  std::string body = typical_body();
  for (auto _ : state) {
    auto v = nlohmann::json::parse(body, nullptr, false);
    benchmark::DoNotOptimize(v);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(body.size()));
}
BENCHMARK(BM_Json_ParseNlohmann_1KB);

} // namespace
