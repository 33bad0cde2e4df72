// lithe-chat's app: one room. The page (GET /) receives with Server-Sent Events (GET /events)
// and sends with POST /say (seed 002), or, with ?transport=ws, does both over a WebSocket
// (GET /ws, Cramp's ChatAction). Both kinds of user share the room through one EventChannel
// on a Hub, so they see each other's messages, joins and leaves, on every worker thread.
#pragma once

#include "page.hpp"

#include <lithe/mw/action.hpp>
#include <lithe/mw/json.hpp>
#include <lithe/mw/router.hpp>
#include <lithe/mw/sse.hpp>
#include <lithe/mw/ws_codec.hpp>

namespace chat {

constexpr std::size_t max_text = 2000; // bytes of one message
constexpr std::size_t max_name = 32;

/// A user's name from ?name=: 1..32 bytes of UTF-8, else "anonymous".
inline std::string clean_name(std::string name) {
  if (name.empty() || name.size() > max_name || !lithe::mw::ws::valid_utf8(name))
    return "anonymous";
  return name;
}

inline std::string json(std::string_view type, std::string_view name, std::string_view text = {}) {
  std::string out = "{\"type\":";
  lithe::mw::append_json_string(out, type);
  out += ",\"name\":";
  lithe::mw::append_json_string(out, name);
  if (!text.empty()) {
    out += ",\"text\":";
    lithe::mw::append_json_string(out, text);
  }
  out += '}';
  return out;
}

/// Why a message is refused, or "" when it is fine.
inline std::string_view refusal(std::string_view text) {
  if (text.empty()) return "empty message";
  if (text.size() > max_text) return "message over 2000 bytes";
  if (!lithe::mw::ws::valid_utf8(text)) return "message is not valid UTF-8";
  return {};
}

class Room {
public:
  explicit Room(lithe::mw::Hub& hub) : hub_(hub), channel_(hub, "chat", 200) {}
  void say(std::string_view name, std::string_view text) {
    channel_.publish("message", json("message", name, text));
  }
  void join(std::string_view name) { channel_.publish("join", json("join", name)); }
  void leave(std::string_view name) { channel_.publish("leave", json("leave", name)); }
  lithe::mw::Hub& hub() { return hub_; }
  lithe::mw::EventChannel& channel() { return channel_; }

private:
  lithe::mw::Hub& hub_;
  lithe::mw::EventChannel channel_;
};

/// Cramp's ChatAction over WebSocket: every message of the room is rendered to this user.
class ChatAction : public lithe::mw::Action {
public:
  explicit ChatAction(Room* room) : room_(room) {}
  void on_start() override {
    name_ = clean_name(request().query_param("name"));
    sub_ = room_->hub().subscribe(
        "chat",
        [this](const lithe::mw::HubMessage& m) { return !finished() && (render(m.data), true); },
        lithe::mw::Hub::Kind::websocket);
    room_->join(name_);
  }
  void on_data(std::string_view text) override {
    if (auto why = refusal(text); !why.empty()) {
      // Over-long and invalid text never get here (1009, 1007); an empty one does.
      render(json("error", name_, why));
      return;
    }
    room_->say(name_, text);
  }
  void on_finish() override {
    room_->hub().unsubscribe(sub_);
    room_->leave(name_);
  }

private:
  Room* room_;
  std::string name_;
  lithe::mw::Subscription sub_;
};

inline lithe::mw::Router app(Room& room) {
  lithe::mw::Router r;
  r.get("/", [](lithe::Env&) -> lithe::Response {
    return {200, {{"Content-Type", "text/html; charset=utf-8"}}, page};
  });
  r.get("/events",
        room.channel().app({.heartbeat = std::chrono::seconds(15),
                            .retry = 1000,
                            .on_open = [&room](lithe::Env& env) {
                              std::string name =
                                  clean_name(std::string(env.param("name").value_or("")));
                              room.join(name);
                              return lithe::Function<void(lithe::CloseReason)>(
                                  [&room, name](lithe::CloseReason) { room.leave(name); });
                            }}));
  r.post("/say", [&room](lithe::Env& env) -> lithe::Response {
    std::string_view text = env.param("text").value_or("");
    if (auto why = refusal(text); !why.empty())
      return {text.size() > max_text ? 413 : 400,
              {{"Content-Type", "text/plain"}},
              std::string(why) + "\n"};
    room.say(clean_name(std::string(env.param("name").value_or(""))), text);
    return {204, {}, {}};
  });
  lithe::mw::WebSocketOptions ws = lithe::mw::websocket_action<ChatAction>(&room);
  ws.max_message = max_text;
  r.websocket("/ws", std::move(ws));
  return r;
}

} // namespace chat
