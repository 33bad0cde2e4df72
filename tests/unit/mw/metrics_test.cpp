// Metrics and Health (middleware/src/metrics.cpp, health.cpp) through MockRequest: what is
// counted, the exposition text, the scrape itself not counted, readiness while draining.
#include <catch2/catch.hpp>
#include <lithe/lithe.hpp>
#include <lithe/mw/health.hpp>
#include <lithe/mw/metrics.hpp>

#include <string>

using namespace lithe;

namespace {

App by_path() {
  return [](Env& env) -> Response {
    if (env.path() == "/missing") return {404, {{"Content-Type", "text/plain"}}, "no"};
    if (env.path() == "/later") {
      env.loop().add_timer(Millis(300), [cb = env.async_callback()] {
        cb({200, {{"Content-Type", "text/plain"}}, "late"});
      });
      return lithe::async;
    }
    return {200, {{"Content-Type", "text/plain"}}, "hello"};
  };
}

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

} // namespace

TEST_CASE("Metrics counts responses by class, their bytes and a latency histogram") {
  auto m = std::make_shared<mw::Metrics>();
  MockRequest mock(mw::metrics({.metrics = m})(by_path()));
  mock.get("/");
  mock.get("/");
  mock.get("/missing");
  auto late = mock.get("/later"); // 300 ms on the mock's clock
  REQUIRE(late.finished);
  std::string text = mock.get("/metrics").body;
  CHECK(has_line(text, "lithe_requests_total{code=\"2xx\"} 3"));
  CHECK(has_line(text, "lithe_requests_total{code=\"4xx\"} 1"));
  CHECK(has_line(text, "lithe_request_duration_seconds_count 4"));
  CHECK(has_line(text, "lithe_request_duration_seconds_bucket{le=\"0.25\"} 3"));
  CHECK(has_line(text, "lithe_request_duration_seconds_bucket{le=\"0.5\"} 4"));
  CHECK(has_line(text, "lithe_request_duration_seconds_bucket{le=\"+Inf\"} 4"));
  CHECK(has_line(text, "lithe_response_bytes_total{part=\"body\"} 16")); // 5 + 5 + 2 + 4
  CHECK(text.find("# TYPE lithe_request_duration_seconds histogram\n") != std::string::npos);
  // The scrape was not counted, and a second one says the same.
  CHECK(has_line(mock.get("/metrics").body, "lithe_requests_total{code=\"2xx\"} 3"));
  CHECK(mock.get("/metrics").header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
}

TEST_CASE("Metrics shows the server's live counters and the app's own sources") {
  auto m = std::make_shared<mw::Metrics>();
  m->set_server_stats([] {
    WorkerStats s;
    s.connections = 7;
    s.sockets = 2;
    return s;
  });
  m->add({.name = "app_queue_depth", .help = "Jobs waiting.", .type = "gauge", .read = [] {
            return 12.5;
          }});
  MockRequest mock(mw::metrics({.path = "/stats", .metrics = m})(by_path()));
  std::string text = mock.get("/stats").body;
  CHECK(has_line(text, "lithe_connections 7"));
  CHECK(has_line(text, "lithe_open_sockets 2"));
  CHECK(has_line(text, "# TYPE app_queue_depth gauge"));
  CHECK(has_line(text, "app_queue_depth 12.5"));
  CHECK(mock.get("/metrics").body == "hello"); // another path is the app's
}

TEST_CASE("Health answers liveness always and readiness until draining") {
  auto draining = std::make_shared<std::atomic<bool>>(false);
  MockRequest mock(mw::health({.draining = draining})(by_path()));
  CHECK(mock.get("/healthz").status == 200);
  CHECK(mock.get("/readyz").status == 200);
  CHECK(mock.get("/").body == "hello");
  draining->store(true);
  CHECK(mock.get("/healthz").status == 200);
  auto r = mock.get("/readyz");
  CHECK(r.status == 503);
  CHECK(r.body == "draining\n");
  CHECK(r.header("Connection") == "close");
}
