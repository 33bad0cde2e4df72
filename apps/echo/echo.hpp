// lithe-echo's app: HTTP requests get their body back (any method, any path, the request's
// Content-Type); WebSocket upgrades on any path echo every text and binary message.
#pragma once

#include <lithe/lithe.hpp>
#include <lithe/mw/websocket.hpp>

#include <string>

namespace echo {

inline lithe::App app(lithe::mw::WebSocketOptions ws = {.compression = true}) {
  ws.on_message = [](lithe::mw::WebSocket& s, std::string_view text) { s.send(text); };
  ws.on_binary = [](lithe::mw::WebSocket& s, std::string_view bytes) { s.send_binary(bytes); };
  lithe::App http = [](lithe::Env& env) -> lithe::Response {
    std::string type(env.content_type().empty() ? "application/octet-stream" : env.content_type());
    return {200, {{"Content-Type", std::move(type)}}, std::string(env.body())};
  };
  return lithe::mw::websocket_middleware(std::move(ws))(std::move(http));
}

} // namespace echo
