// lithe-comet: a Comet push server (long polling and streaming); see comet.hpp.
//   curl -N localhost:8080/stream &  curl localhost:8080/poll &
//   curl -d 'hello' localhost:8080/publish
#include "comet.hpp"

#include <lithe/server.hpp>

int main(int argc, char** argv) {
  static comet::Hub hub; // outlives the server and its workers
  return lithe::run(
      {.name = "lithe-comet", .description = "Comet push: GET /poll, GET /stream, POST /publish"},
      argc, argv, comet::app(hub));
}
