// lithe-broadcast's app: every WebSocket on /ws/:topic, and every event stream on
// /events/:topic, subscribes to that topic on a Hub; a message from any WebSocket, or a
// POST /publish/:topic, reaches all of them, on every worker thread (Cramp's broadcast to
// every user). bench/run's fan-out scenario drives it.
#pragma once

#include <lithe/mw/hub.hpp>
#include <lithe/mw/router.hpp>
#include <lithe/mw/sse.hpp>

namespace broadcast {

inline lithe::mw::Router app(lithe::mw::Hub& hub) {
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
  r.get("/events/:topic", [&hub](lithe::Env& env) -> lithe::Response {
    std::string topic(*env.param("topic"));
    return {200, lithe::mw::sse_headers(),
            lithe::stream(
                [&hub, topic](lithe::DeferrableBody out) {
                  out.write(std::string_view(": connected\n\n"));
                  auto sub = hub.subscribe(topic, [out](const lithe::mw::HubMessage& m) {
                    return out.write(lithe::mw::format_sse({.data = m.data})) || !out.closed();
                  });
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
