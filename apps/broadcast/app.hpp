// lithe-broadcast's app: every WebSocket on /ws/:topic, and every event stream on
// /events/:topic, subscribes to that topic on a Hub; a message from any WebSocket, or a
// POST /publish/:topic, reaches all of them, on every worker thread (Cramp's broadcast to
// every user). Event streams that do not keep up are dropped as EventChannel drops them
// (mw::send_event). bench/run's fan-out scenario drives it.
#pragma once

#include <lithe/mw/hub.hpp>
#include <lithe/mw/router.hpp>
#include <lithe/mw/sse.hpp>

namespace broadcast {

/// What happens to an event stream that does not read: past `max_buffered` unsent bytes its
/// events are skipped, or (by default) the stream ends and the client reconnects.
struct Options {
  std::size_t max_buffered = 256 * 1024;
  lithe::mw::SlowClient slow_client = lithe::mw::SlowClient::drop;
};

inline lithe::mw::Router app(lithe::mw::Hub& hub, Options options = {}) {
  lithe::mw::Router r;
  r.websocket("/ws/:topic", {.on_open =
                                 [&hub](lithe::mw::WebSocket& ws) {
                                   hub.subscribe(ws, std::string(ws.handshake().param("topic")));
                                 },
                             .on_message =
                                 [&hub](lithe::mw::WebSocket& ws, std::string_view text) {
                                   hub.publish(std::string(ws.handshake().param("topic")),
                                               std::string(text));
                                 }});
  r.get("/events/:topic", [&hub, options](lithe::Env& env) -> lithe::Response {
    std::string topic(*env.param("topic"));
    return {200, lithe::mw::sse_headers(),
            lithe::stream(
                [&hub, topic, options](lithe::DeferrableBody out) {
                  out.write(std::string_view(": connected\n\n"));
                  auto sub = hub.subscribe(
                      topic,
                      [out, options](const lithe::mw::HubMessage& m) {
                        return lithe::mw::send_event(out, {.data = m.data}, options.max_buffered,
                                                     options.slow_client);
                      },
                      lithe::mw::Hub::Kind::sse);
                  out.on_close([&hub, sub](lithe::CloseReason) { hub.unsubscribe(sub); });
                },
                true)};
  });
  r.post("/publish/:topic", [&hub](lithe::Env& env) -> lithe::Response {
    std::string topic(*env.param("topic"));
    std::size_t listeners = hub.subscribers(topic);
    hub.publish(std::move(topic), std::string(env.body()));
    return {202, {{"Content-Type", "text/plain"}}, std::to_string(listeners) + " listening\n"};
  });
  return r;
}

} // namespace broadcast
