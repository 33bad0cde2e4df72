// lithe-echo: any method on any path answers 200 with the request body echoed back, with
// the request's Content-Type (chunked or fixed-length requests alike).
#include <lithe/lithe.hpp>
#include <lithe/server.hpp>

#include <string>

int main(int argc, char** argv) {
  lithe::App echo = [](lithe::Env& env) -> lithe::Response {
    std::string type(env.content_type().empty() ? "application/octet-stream" : env.content_type());
    return {200, {{"Content-Type", std::move(type)}}, std::string(env.body())};
  };
  lithe::Program program{
      .name = "lithe-echo", .description = "Echoes every request's body back", .defaults = {}};
  program.defaults.http.max_body_bytes = 16 << 20;
  return lithe::run(program, argc, argv, echo);
}
