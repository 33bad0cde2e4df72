// lithe-broadcast: topic broadcast over WebSockets on a Hub; see app.hpp.
#include "app.hpp"

#include <lithe/server.hpp>

int main(int argc, char** argv) {
  static lithe::mw::Hub hub; // outlives the server
  return lithe::run({.name = "lithe-broadcast",
                     .description = "WebSocket /ws/:topic and POST /publish/:topic on a hub"},
                    argc, argv, broadcast::app(hub));
}
