// Cookie parsing (RFC 6265 §5.4) and session cookies opened (verify, decrypt, deserialize):
// the work mw::session does on each request that carries a session.
#include <lithe/mw/cookies.hpp>
#include <lithe/mw/session.hpp>

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

namespace {

using namespace lithe;

std::string browser_cookie_header() {
  // What a browser sends to a typical site: analytics, preferences, a session.
  std::string h = "_ga=GA1.2.1234567890.1600000000; _gid=GA1.2.987654321.1600000000; "
                  "theme=dark; lang=en-GB; consent=\"yes\"; ";
  h += "lithe.session=" + std::string(180, 'Q');
  return h;
}

void BM_CookieParse(benchmark::State& state) {
  const std::string h = browser_cookie_header();
  for (auto _ : state) {
    std::size_t n = 0;
    mw::for_each_cookie(h, 256, [&](mw::Cookie c) {
      n += c.value.size();
      return true;
    });
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * h.size()));
}
BENCHMARK(BM_CookieParse);

/// A session of a logged-in user: id, name, CSRF token, a flash message.
std::string session_bytes() {
  mw::Session s;
  (void)s.set("user", "42");
  (void)s.set("name", "Alice Example");
  (void)s.set("_csrf_token", std::string(43, 't'));
  (void)s.set("flash", "Saved.");
  return s.serialize();
}

void open_session(benchmark::State& state, bool encrypt) {
  const std::vector<std::string> secrets{std::string(32, 's')};
  mw::SessionCodec codec(secrets, encrypt);
  const std::string token = codec.seal(session_bytes());
  for (auto _ : state) {
    auto data = codec.open(token);
    mw::Session s;
    benchmark::DoNotOptimize(data && s.deserialize(*data));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * token.size()));
  state.SetItemsProcessed(state.iterations());
}
void BM_SessionOpenSigned(benchmark::State& state) {
  open_session(state, false);
}
void BM_SessionOpenEncrypted(benchmark::State& state) {
  open_session(state, true);
}
BENCHMARK(BM_SessionOpenSigned);
BENCHMARK(BM_SessionOpenEncrypted);

void BM_SessionSealEncrypted(benchmark::State& state) {
  const std::vector<std::string> secrets{std::string(32, 's')};
  mw::SessionCodec codec(secrets, true);
  const std::string data = session_bytes();
  for (auto _ : state)
    benchmark::DoNotOptimize(codec.seal(data));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SessionSealEncrypted);

} // namespace
