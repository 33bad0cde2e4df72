// Params decoding (a sign-up form of nested names, as a query string or urlencoded body) and
// multipart parsing (a few fields and a 1 MiB file, whole and in 16 KiB reads as a socket
// gives them), in bytes per second.
#include <lithe/mw/multipart.hpp>
#include <lithe/mw/params.hpp>

#include <benchmark/benchmark.h>

#include <random>
#include <string>

namespace {

const std::string form =
    "user[name]=Ann+Lee&user[email]=ann%40example.com&user[address][street]=1+Main+St&"
    "user[address][city]=Oslo&user[address][zip]=0150&tags[]=admin&tags[]=editor&tags[]=ops&"
    "items[][id]=17&items[][qty]=2&items[][id]=42&items[][qty]=1&remember_me=1&"
    "csrf=3f1a9c0d7e2b4a6f8c5d1e9b0a7c3f2e&redirect=%2Fdashboard%3Ftab%3Dorders&q=caf%C3%A9";

void BM_ParamsDecode(benchmark::State& state) {
  for (auto _ : state) {
    lithe::mw::ParamTree t;
    benchmark::DoNotOptimize(t.add_form(form, {}));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * form.size()));
}
BENCHMARK(BM_ParamsDecode);

std::string multipart_body() {
  std::mt19937 rng(7);
  std::string file(1 << 20, '\0');
  for (char& c : file)
    c = static_cast<char>(rng()); // random bytes: about one CR in 256, as in a real binary
  std::string b;
  for (const char* f : {"title", "description", "tags[]", "tags[]"})
    b += std::string("--------------------------d74496d66958873e\r\nContent-Disposition: "
                     "form-data; name=\"") +
         f + "\"\r\n\r\nsome text value\r\n";
  b += "--------------------------d74496d66958873e\r\nContent-Disposition: form-data; "
       "name=\"upload\"; filename=\"photo.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n" +
       file + "\r\n--------------------------d74496d66958873e--\r\n";
  return b;
}

void BM_MultipartParse(benchmark::State& state) {
  const std::string body = multipart_body();
  const std::size_t piece = static_cast<std::size_t>(state.range(0));
  std::size_t total = 0;
  for (auto _ : state) {
    lithe::mw::MultipartParser p("------------------------d74496d66958873e",
                                 {.on_data = [&total](std::string_view d) { total += d.size(); }});
    std::string_view rest = body;
    while (!rest.empty()) {
      std::size_t n = std::min(piece, rest.size());
      p.feed(rest.substr(0, n));
      rest.remove_prefix(n);
    }
    if (p.finish() != lithe::mw::MultipartError::none) state.SkipWithError("parse failed");
  }
  benchmark::DoNotOptimize(total);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_MultipartParse)->Arg(1 << 24)->Arg(16 << 10);

} // namespace
