// The uWebSockets reference for bench/run (optional; bench/README.md says how to build it
// against uWebSockets and uSockets sources you provide: none of their code is in this repo).
// GET / answers "Hello, World!" as text/plain (uWS adds Date), and every other path is a
// WebSocket echo without compression, as lithe-hello and lithe-echo do.
#include "App.h"
#include <cstdlib>
struct PerSocket {};

int main(int argc, char** argv) {
  int port = argc > 1 ? std::atoi(argv[1]) : 9001;
  uWS::App()
      .get("/", [](auto* res,
                   auto*) { res->writeHeader("Content-Type", "text/plain")->end("Hello, World!"); })
      .ws<PerSocket>("/*", {.compression = uWS::DISABLED,
                            .maxPayloadLength = 16 * 1024 * 1024,
                            .message = [](auto* ws, std::string_view msg,
                                          uWS::OpCode op) { ws->send(msg, op); }})
      .listen(port,
              [](auto* s) {
                if (!s) std::exit(1);
              })
      .run();
}
