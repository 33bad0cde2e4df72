// Streamed request bodies under attack (SPEC 2.13): lithe-upload reads bodies as they arrive,
// so clients that upload as fast as they can hold what one read and the app's high-water mark
// take, never their bodies (streamed uploads that stall: limits_test.cpp).
#include "hostile.hpp"
#include "support/backends.hpp"

#include <catch2/catch.hpp>

#include <sys/socket.h>

using namespace lithe::hostile;

namespace {

void warm_up(Target& t) {
  for (int i = 0; i < 20; ++i)
    REQUIRE(probe(t.port(), "/"));
}

} // namespace

TEMPLATE_TEST_CASE("Uploads from many clients at full speed hold a few buffers each, not their "
                   "bodies",
                   "[hostile]", LITHE_BACKENDS) {
  raise_fd_limit();
  Target t("upload", TestType::name);
  warm_up(t);
  REQUIRE(probe(t.port(), "/")); // and the hash itself once, so OpenSSL's setup is not counted
  Attack o{.name = "upload-flood", .backend = TestType::name, .connections = 200};
  std::vector<int> fds = open_connections(t.port(), o.connections);
  std::this_thread::sleep_for(200ms); // connected
  send_each(fds, "POST /sha256 HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000000\r\n\r\n");
  o.rss_before_kib = t.rss_kib();
  const std::string chunk(64 * 1024, 'u');
  std::size_t sent = 0;
  auto until = std::chrono::steady_clock::now() + 2s;
  o.rss_peak_kib = peak_rss(
      t,
      [&] {
        sent += send_each(fds, chunk);
        return std::chrono::steady_clock::now() > until;
      },
      3s);
  CHECK(sent > 8 * chunk.size()); // the server took the bytes as they came
  probe_during(o, t);
  finish(o, t);
  // Each upload is still in progress and within its limit: no answer yet.
  CHECK(read_head(fds.front(), 100ms).empty());
  close_all(fds);
  CHECK(t.stop() == 0);
}
