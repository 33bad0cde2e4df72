// WebSocket hot paths: parsing a masked frame (unmasking included), encoding a frame, and
// validating UTF-8, per byte.
#include <lithe/mw/ws_codec.hpp>

#include <benchmark/benchmark.h>

namespace ws = lithe::mw::ws;

namespace {

std::string masked_frame(std::size_t n) {
  std::string payload(n, 'x');
  std::string f = "\x82";
  if (n < 126) {
    f += static_cast<char>(0x80 | n);
  } else {
    f += static_cast<char>(0x80 | 126);
    f += static_cast<char>(n >> 8);
    f += static_cast<char>(n & 0xFF);
  }
  return f + std::string("\x01\x02\x03\x04", 4) + payload;
}

void BM_ws_parse(benchmark::State& state) {
  std::string wire = masked_frame(static_cast<std::size_t>(state.range(0)));
  ws::FrameParser p(1 << 20);
  ws::Frame f;
  for (auto _ : state) {
    p.feed(wire);
    benchmark::DoNotOptimize(p.next(f));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * wire.size()));
}
BENCHMARK(BM_ws_parse)->Arg(16)->Arg(1024)->Arg(60000);

void BM_ws_encode(benchmark::State& state) {
  std::string payload(static_cast<std::size_t>(state.range(0)), 'x');
  std::string out;
  for (auto _ : state) {
    out.clear();
    ws::encode_frame(out, ws::text, payload);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * payload.size()));
}
BENCHMARK(BM_ws_encode)->Arg(16)->Arg(1024)->Arg(60000);

void BM_utf8_validate(benchmark::State& state) {
  std::string text;
  while (text.size() < 64 * 1024)
    text += state.range(0) ? "κόσμε 日本語 " : "plain ascii text ";
  for (auto _ : state)
    benchmark::DoNotOptimize(ws::valid_utf8(text));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_utf8_validate)->Arg(0)->Arg(1);

} // namespace
