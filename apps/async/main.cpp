// lithe-async: the seeds' async examples (async_sinatra, Thin's AsyncApp); see app.hpp.
#include "app.hpp"

#include <lithe/server.hpp>

int main(int argc, char** argv) {
  return lithe::run({.name = "lithe-async",
                     .description = "Async examples: /, /deferrable, /respond, /async, /long, "
                                    "/delay/:n (milliseconds)"},
                    argc, argv, async_app::app());
}
