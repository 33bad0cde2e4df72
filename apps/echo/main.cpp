// lithe-echo: echoes HTTP request bodies and WebSocket messages; see echo.hpp.
#include "echo.hpp"

#include <lithe/server.hpp>

int main(int argc, char** argv) {
  lithe::Program program{.name = "lithe-echo",
                         .description = "Echoes request bodies and WebSocket messages back",
                         .defaults = {}};
  return lithe::run(program, argc, argv, echo::app());
}
