// Fuzzes the engine's chunked request bodies (RFC 9112 §7.1: chunk sizes, extensions,
// trailers) through the real engine and a fake transport. The harness writes the head of a
// chunked POST; the input is what follows, split into reads anywhere. The body the app gets
// must be the chunks' data, also when the app answers late (the request then moves into the
// exchange's own copy, SPEC 2.9).
#include "fake_transport.hpp"
#include "fuzz_input.hpp"

#include <lithe/lithe.hpp>

#include <optional>

namespace {

using namespace lithe;

int hex(char c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

// A reference reading of a chunked body the engine accepted: size, anything up to CRLF
// (extensions), data, CRLF; the last chunk's trailers are not needed for the data.
std::optional<std::string> dechunk(std::string_view s) {
  std::string out;
  for (;;) {
    std::size_t i = 0;
    std::uint64_t n = 0;
    while (i < s.size() && hex(s[i]) >= 0) {
      n = n * 16 + static_cast<std::uint64_t>(hex(s[i++]));
      if (n > (std::uint64_t{1} << 40)) return std::nullopt;
    }
    std::size_t eol = s.find("\r\n", i);
    if (i == 0 || eol == std::string_view::npos) return std::nullopt;
    s.remove_prefix(eol + 2);
    if (n == 0) return out;
    if (s.size() < n + 2 || s.substr(n, 2) != "\r\n") return std::nullopt;
    out.append(s.substr(0, n));
    s.remove_prefix(n + 2);
  }
}

struct Case {
  std::string_view body; // the input after the head
  bool late = false;     // answer the first request on the next tick
  int calls = 0;
};
Case* current = nullptr;

void check_body(std::string_view got) {
  std::optional<std::string> want = dechunk(current->body);
  if (!want || *want != got) lithe::fuzz::broken();
}

Response app(Env& env) {
  const Headers plain = {{"Content-Type", "text/plain"}};
  std::string text = std::to_string(env.body().size()) + "\n";
  if (++current->calls > 1 || env.path() != "/upload") return {200, plain, text};
  // The first request is the harness's chunked POST.
  check_body(env.body());
  if (!current->late) return {200, plain, text};
  env.loop().next_tick([&env, cb = env.async_callback(), plain, text] {
    if (!cb.pending()) return; // the client left: the env is gone
    check_body(env.body());    // still the same bytes, though the reads that held them are gone
    cb({200, plain, text});
  });
  return async;
}

HttpOptions options(std::uint8_t flags) {
  HttpOptions o;
  switch (flags & 3) {
  case 0:
    o.max_header_bytes = 1024, o.max_body_bytes = 1024;
    break;
  case 1:
    o.max_header_bytes = 128, o.max_body_bytes = 16;
    break;
  case 2:
    o.max_header_bytes = 256, o.max_body_bytes = 100;
    break;
  default:
    break;
  }
  lithe::fuzz::short_timeouts(o);
  return o;
}

} // namespace

// Input: flags, a write cap, five 16-bit cut offsets, then the bytes after the head.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  lithe::fuzz::FuzzInput in(data, size);
  std::uint8_t flags = in.byte();
  std::size_t cap = (flags & 0x20) ? 1 + in.byte() : (in.byte(), 0);
  std::vector<std::size_t> cuts = lithe::fuzz::read_cuts(in, 5);
  Case c{.body = in.rest(), .late = (flags & 0x40) != 0};
  current = &c;

  std::string wire = "POST /upload HTTP/1.1\r\nHost: fuzz\r\nTransfer-Encoding: chunked\r\n";
  if (flags & 4) wire += "Expect: 100-continue\r\n";
  if (flags & 0x80) wire += "Trailer: X-Sum\r\n";
  wire += "\r\n";
  wire.append(c.body);
  {
    lithe::fuzz::EngineHarness h(app, options(flags), cap);
    h.feed(lithe::fuzz::split(wire, std::move(cuts)));
    h.finish(static_cast<lithe::fuzz::Ending>((flags >> 3) & 3));
  }
  current = nullptr;
  return 0;
}
