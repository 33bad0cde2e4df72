// Metrics: per-thread shards of relaxed atomics, summed when scraped (Prometheus's text
// format, prometheus.io/docs/instrumenting/exposition_formats).
#include <lithe/mw/metrics.hpp>

#include <cstdio>
#include <functional>
#include <thread>

namespace lithe::mw {

namespace {

std::size_t my_shard(std::size_t count) noexcept {
  thread_local const std::size_t shard = std::hash<std::thread::id>()(std::this_thread::get_id());
  return shard % count;
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

void header(std::string& out, const std::string& name, const std::string& type,
            const std::string& help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

} // namespace

Metrics::Metrics() : shards_(new Shard[shard_count]) {}

void Metrics::record(const Outcome& o) noexcept {
  Shard& s = shards_[my_shard(shard_count)];
  constexpr auto relaxed = std::memory_order_relaxed;
  int cls = o.status >= 100 && o.status < 600 ? o.status / 100 : 0;
  s.by_class[cls].fetch_add(1, relaxed);
  double seconds = std::chrono::duration<double>(o.duration).count();
  std::size_t b = 0;
  while (b < buckets.size() && seconds > buckets[b])
    ++b;
  s.in_bucket[b].fetch_add(1, relaxed);
  s.nanos.fetch_add(static_cast<std::uint64_t>(
                        std::chrono::duration_cast<std::chrono::nanoseconds>(o.duration).count()),
                    relaxed);
  s.head_bytes.fetch_add(o.head_bytes, relaxed);
  s.body_bytes.fetch_add(o.body_bytes, relaxed);
  if (o.reason != CloseReason::done) s.incomplete.fetch_add(1, relaxed);
}

void Metrics::set_server_stats(std::function<WorkerStats()> stats) {
  std::lock_guard lock(mu_);
  server_ = std::move(stats);
}

void Metrics::add(MetricSource source) {
  std::lock_guard lock(mu_);
  sources_.push_back(std::move(source));
}

std::string Metrics::render() const {
  auto sum = [this](auto member) {
    std::uint64_t n = 0;
    for (std::size_t i = 0; i < shard_count; ++i)
      n += member(shards_[i]).load(std::memory_order_relaxed);
    return n;
  };
  std::string out;
  out.reserve(4096);
  header(out, "lithe_requests_total", "counter", "Responses finished, by status class.");
  static const char* classes[] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
  std::uint64_t total = 0;
  for (int c = 0; c < 6; ++c) {
    std::uint64_t n = sum([c](const Shard& s) -> const auto& { return s.by_class[c]; });
    total += n;
    out += std::string("lithe_requests_total{code=\"") + classes[c] + "\"} " + std::to_string(n) +
           "\n";
  }
  header(out, "lithe_request_duration_seconds", "histogram",
         "From a request's head to its response's last byte.");
  std::uint64_t cumulative = 0;
  for (std::size_t b = 0; b <= buckets.size(); ++b) {
    cumulative += sum([b](const Shard& s) -> const auto& { return s.in_bucket[b]; });
    out += "lithe_request_duration_seconds_bucket{le=\"" +
           (b < buckets.size() ? number(buckets[b]) : std::string("+Inf")) + "\"} " +
           std::to_string(cumulative) + "\n";
  }
  out += "lithe_request_duration_seconds_sum " +
         number(static_cast<double>(sum([](const Shard& s) -> const auto& { return s.nanos; })) /
                1e9) +
         "\n";
  out += "lithe_request_duration_seconds_count " + std::to_string(cumulative) + "\n";
  header(out, "lithe_response_bytes_total", "counter", "Bytes of response heads and bodies.");
  out += "lithe_response_bytes_total{part=\"head\"} " +
         std::to_string(sum([](const Shard& s) -> const auto& { return s.head_bytes; })) + "\n";
  out += "lithe_response_bytes_total{part=\"body\"} " +
         std::to_string(sum([](const Shard& s) -> const auto& { return s.body_bytes; })) + "\n";
  header(out, "lithe_responses_incomplete_total", "counter",
         "Responses that did not reach the client whole (it left, a timeout, an error).");
  out += "lithe_responses_incomplete_total " +
         std::to_string(sum([](const Shard& s) -> const auto& { return s.incomplete; })) + "\n";
  (void)total;

  std::lock_guard lock(mu_);
  if (server_) {
    WorkerStats w = server_();
    auto gauge = [&out](const char* name, const char* help, long v) {
      header(out, name, "gauge", help);
      out += std::string(name) + " " + std::to_string(v) + "\n";
    };
    gauge("lithe_connections", "Open connections.", w.connections);
    gauge("lithe_requests_in_progress", "Requests whose state is alive.", w.exchanges);
    gauge("lithe_requests_awaiting", "Requests that returned lithe::async, no answer yet.",
          w.awaiting);
    gauge("lithe_open_bodies", "Deferrable and streaming bodies still open.", w.bodies);
    gauge("lithe_open_sockets", "Hijacked sockets (WebSockets) still open.", w.sockets);
  }
  const std::string* family = nullptr;
  for (const MetricSource& s : sources_) {
    if (!family || *family != s.name) header(out, s.name, s.type, s.help);
    family = &s.name;
    out += s.name;
    if (!s.labels.empty()) { // appended piece by piece: g++ 12 warns (-Wrestrict) on "{" + s
      out += '{';
      out += s.labels;
      out += '}';
    }
    out += ' ';
    out += number(s.read ? s.read() : 0);
    out += '\n';
  }
  return out;
}

Middleware metrics(MetricsOptions options) {
  auto m = options.metrics ? options.metrics : std::make_shared<Metrics>();
  return [m, path = std::move(options.path)](App next) -> App {
    return [m, path, next = std::move(next)](Env& env) -> Response {
      if (env.path() == path && (env.method() == "GET" || env.method() == "HEAD"))
        return {200, {{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"}}, m->render()};
      env.on_finished([m](Env&, const Outcome& o) { m->record(o); });
      return next(env);
    };
  };
}

} // namespace lithe::mw
