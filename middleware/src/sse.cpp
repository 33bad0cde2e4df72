// Server-Sent Events: the wire format, and EventChannel's stream: replay, live events from the
// hub, heartbeats, and the slow-client policy, each stream on its connection's loop.
#include <lithe/mw/sse.hpp>

#include <algorithm>

namespace lithe::mw {

std::string format_sse(const SseEvent& e) {
  std::string out;
  out.reserve(e.data.size() + e.event.size() + e.id.size() + 32);
  if (!e.event.empty()) out.append("event: ").append(e.event).append("\n");
  if (!e.id.empty()) out.append("id: ").append(e.id).append("\n");
  if (e.retry) out.append("retry: ").append(std::to_string(*e.retry)).append("\n");
  std::string_view d = e.data;
  for (;;) {
    std::size_t eol = d.find_first_of("\r\n");
    out.append("data: ").append(d.substr(0, eol)).append("\n");
    if (eol == std::string_view::npos) break;
    d.remove_prefix(eol + (d[eol] == '\r' && eol + 1 < d.size() && d[eol + 1] == '\n' ? 2 : 1));
  }
  out += '\n';
  return out;
}

Headers sse_headers() {
  return {{"Content-Type", "text/event-stream; charset=utf-8"},
          {"Cache-Control", "no-cache"},
          {"X-Accel-Buffering", "no"}};
}

bool send_event(const DeferrableBody& out, const SseEvent& event, std::size_t max_buffered,
                SlowClient slow_client) {
  if (out.closed()) return false;
  if (out.buffered() > max_buffered) {
    if (slow_client == SlowClient::skip) return true;
    out.fail(); // dropped: it reconnects (with Last-Event-ID where the events have ids)
    return false;
  }
  out.write(format_sse(event));
  return true; // written, even above the high-water mark: max_buffered is the bound here
}

EventChannel::EventChannel(Hub& hub, std::string topic, std::size_t history)
    : hub_(hub), topic_(std::move(topic)), history_(history) {
  // Relayed events come back in the relay's order (Redis's), each with its id: kept as they
  // arrive, before any subscriber sees them, so replay and live delivery meet without a gap.
  tap_ = hub_.add_tap(topic_, [this](const HubMessage& m) {
    if (m.id == 0 || !hub_.relay_assigns_ids()) return; // publish() kept it
    std::lock_guard lock(mu_);
    kept_.push_back({m.id, m.event, m.data});
    if (kept_.size() > history_) kept_.pop_front();
    last_id_ = std::max(last_id_, m.id);
  });
}

EventChannel::~EventChannel() {
  hub_.remove_tap(tap_);
}

std::uint64_t EventChannel::publish(std::string event, std::string data) {
  if (hub_.relay_assigns_ids()) {
    hub_.publish(topic_, std::move(data), std::move(event), 0);
    return 0;
  }
  std::uint64_t id;
  {
    std::lock_guard lock(mu_);
    id = ++last_id_;
    kept_.push_back({id, event, data});
    if (kept_.size() > history_) kept_.pop_front();
  }
  hub_.publish(topic_, std::move(data), std::move(event), id);
  return id;
}

App EventChannel::app(SseOptions options) {
  auto opts = std::make_shared<const SseOptions>(std::move(options));
  return [this, opts](Env& env) -> Response {
    if (env.method() != "GET" && env.method() != "HEAD")
      return {405, {{"Allow", "GET, HEAD"}}, "an event stream is read with GET\n"};
    std::optional<std::uint64_t> after;
    if (auto last = env.header("last-event-id")) after = parse_u64(*last);
    auto on_end = std::make_shared<Function<void(CloseReason)>>();
    if (opts->on_open) *on_end = opts->on_open(env);
    return {200, sse_headers(),
            stream([this, opts, after,
                    on_end](DeferrableBody out) { start(out, opts, after, std::move(*on_end)); },
                   true)};
  };
}

void EventChannel::start(DeferrableBody out, std::shared_ptr<const SseOptions> opts,
                         std::optional<std::uint64_t> after, Function<void(CloseReason)> on_end) {
  Loop& loop = *Loop::current();
  std::string first = opts->retry ? "retry: " + std::to_string(*opts->retry) + "\n\n" : "";
  first += ": connected\n\n";
  // Subscribe before reading the history, so nothing published in between is lost; events
  // already replayed are skipped by id.
  auto replayed = std::make_shared<std::uint64_t>(0);
  Subscription sub = hub_.subscribe(
      topic_,
      [out, opts, replayed](const HubMessage& m) {
        if (out.closed()) return false;
        if (m.id != 0 && m.id <= *replayed) return true;
        std::string id = m.id ? std::to_string(m.id) : std::string();
        return send_event(out, {.event = m.event, .data = m.data, .id = id}, opts->max_buffered,
                          opts->slow_client);
      },
      Hub::Kind::sse);
  {
    std::lock_guard lock(mu_);
    // Live events up to the client's Last-Event-ID are ones it has: skipped too (one on its way
    // from Redis as the client reconnects would come twice), when the id is of this sequence:
    // Redis's, shared by every process, or one this channel has reached (a process that
    // started afresh counts from 1 again, and its events must not be skipped).
    if (after && (hub_.relay_assigns_ids() || *after <= last_id_)) *replayed = *after;
    if (after)
      for (const Kept& k : kept_)
        if (k.id > *after) {
          std::string id = std::to_string(k.id);
          first += format_sse({.event = k.event, .data = k.data, .id = id});
          *replayed = std::max(*replayed, k.id);
        }
  }
  out.write(std::move(first));
  TimerId beat = 0;
  if (opts->heartbeat.count() > 0)
    beat = loop.add_periodic_timer(opts->heartbeat, [out] {
      if (out.writable()) out.write(std::string_view(": ping\n\n"));
    });
  out.on_close([this, sub, beat, &loop, on_end = std::move(on_end)](CloseReason why) mutable {
    if (beat) loop.cancel_timer(beat);
    hub_.unsubscribe(sub);
    if (on_end) on_end(why);
  });
}

} // namespace lithe::mw
