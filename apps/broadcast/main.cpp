// lithe-broadcast: topic broadcast over WebSockets and Server-Sent Events on a Hub; see
// app.hpp. With --redis URL, every process started with the same URL shares the topics.
#include "app.hpp"

#include <lithe/log.hpp>
#include <lithe/mw/metrics.hpp>
#include <lithe/mw/redis_bridge.hpp>
#include <lithe/server.hpp>

#include <chrono>
#include <memory>

int main(int argc, char** argv) {
  static lithe::mw::Hub hub; // outlives the server
  static std::unique_ptr<lithe::mw::RedisBridge> bridge;
  lithe::Program program;
  program.name = "lithe-broadcast";
  program.description =
      "WebSocket /ws/:topic, SSE /events/:topic and POST /publish/:topic on a hub";
  program.extra_flags = {{"redis",
                          "share topics with other processes through Redis pub/sub: "
                          "redis://host[:port] or unix:/path",
                          ""}};
  return lithe::run(program, argc, argv, [](const lithe::CommandLine& cl) -> lithe::App {
    if (auto it = cl.extra.find("redis"); it != cl.extra.end() && !it->second.empty()) {
      bridge =
          std::make_unique<lithe::mw::RedisBridge>(hub, lithe::mw::RedisOptions{.url = it->second});
      if (!bridge->wait_connected(std::chrono::seconds(5)))
        lithe::log_error("lithe-broadcast: Redis at " + it->second +
                         " is not answering yet; publishes wait for it");
    }
    if (cl.metrics) { // --metrics: the hub's subscribers, and the bridge's queue and drops
      lithe::mw::add_hub_metrics(*cl.metrics, hub);
      if (bridge) lithe::mw::add_redis_metrics(*cl.metrics, *bridge);
    }
    return broadcast::app(hub);
  });
}
