// lithe-broadcast's app: every WebSocket on /ws/:topic subscribes to that topic on a Hub;
// a message from any of them, or a POST /publish/:topic, reaches all of them, on every
// worker thread (Cramp's broadcast to every user).
#pragma once

#include <lithe/mw/hub.hpp>
#include <lithe/mw/router.hpp>

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
  r.post("/publish/:topic", [&hub](lithe::Env& env) -> lithe::Response {
    std::string topic(*env.param("topic"));
    std::size_t listeners = hub.subscribers(topic);
    hub.publish(std::move(topic), std::string(env.body()));
    return {202, {{"Content-Type", "text/plain"}}, std::to_string(listeners) + " listening\n"};
  });
  return r;
}

} // namespace broadcast
