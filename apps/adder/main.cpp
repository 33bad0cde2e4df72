// lithe-adder: the "adder" WebSocket subprotocol (Skinny's example); see app.hpp.
#include "app.hpp"

#include <lithe/server.hpp>

int main(int argc, char** argv) {
  return lithe::run({.name = "lithe-adder",
                     .description = "WebSocket /adder (subprotocol \"adder\"): numbers -> sum"},
                    argc, argv, adder::app());
}
