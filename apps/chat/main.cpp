// lithe-chat: the demo. Open http://127.0.0.1:8080 (SSE) and http://127.0.0.1:8080/?transport=ws
// (WebSocket) in two windows; see chat.hpp.
#include "chat.hpp"

#include <lithe/server.hpp>

int main(int argc, char** argv) {
  static lithe::mw::Hub hub; // outlive the server and its workers
  static chat::Room room(hub);
  return lithe::run(
      {.name = "lithe-chat",
       .description = "A chat room over SSE + POST and WebSocket; open / in a browser"},
      argc, argv, chat::app(room));
}
