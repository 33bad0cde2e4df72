// lithe-chat: the demo. Open http://127.0.0.1:8080 (SSE) and http://127.0.0.1:8080/?transport=ws
// (WebSocket) in two windows; see chat.hpp. With --redis URL, every process started with the
// same URL shares the room, and its event ids: a client reconnecting to any of them (or to the
// one that replaced another at a restart) catches up with Last-Event-ID.
#include "chat.hpp"

#include <lithe/log.hpp>
#include <lithe/mw/metrics.hpp>
#include <lithe/mw/redis_bridge.hpp>
#include <lithe/server.hpp>

#include <chrono>
#include <memory>

int main(int argc, char** argv) {
  static lithe::mw::Hub hub; // outlive the server and its workers
  static chat::Room room(hub);
  static std::unique_ptr<lithe::mw::RedisBridge> bridge;
  lithe::Program program;
  program.name = "lithe-chat";
  program.description = "A chat room over SSE + POST and WebSocket; open / in a browser";
  program.extra_flags = {{"redis",
                          "share the room with other processes through Redis: "
                          "redis://host[:port] or unix:/path",
                          ""}};
  // At a restart, what Redis has on its way to this process reaches its streams before they
  // end: the new process replays everything after that.
  program.before_drain = [] {
    if (bridge && !bridge->sync(std::chrono::seconds(1)))
      lithe::log_error("lithe-chat: Redis did not answer within 1 s before the drain");
  };
  return lithe::run(program, argc, argv, [](const lithe::CommandLine& cl) -> lithe::App {
    if (auto it = cl.extra.find("redis"); it != cl.extra.end() && !it->second.empty()) {
      bridge =
          std::make_unique<lithe::mw::RedisBridge>(hub, lithe::mw::RedisOptions{.url = it->second});
      if (!bridge->wait_connected(std::chrono::seconds(5)))
        lithe::log_error("lithe-chat: Redis at " + it->second +
                         " is not answering yet; messages wait for it");
    }
    if (cl.metrics) { // --metrics: the hub's subscribers, and the bridge's queue and drops
      lithe::mw::add_hub_metrics(*cl.metrics, hub);
      if (bridge) lithe::mw::add_redis_metrics(*cl.metrics, *bridge);
    }
    return chat::app(room);
  });
}
