// lithe-hello: the benchmark app. GET / answers "Hello, World!" as text/plain with
// Content-Length, Date and Server (TechEmpower's plaintext rules); anything else is 404.
#include <lithe/lithe.hpp>
#include <lithe/server.hpp>

int main(int argc, char** argv) {
  lithe::App hello = [](lithe::Env& env) -> lithe::Response {
    if (env.path() == "/" || env.path() == "/plaintext")
      return {200, {{"Content-Type", "text/plain"}}, "Hello, World!"};
    return {404, {{"Content-Type", "text/plain"}}, "Not Found\n"};
  };
  return lithe::run({.name = "lithe-hello", .description = "Answers GET / with Hello, World!"},
                    argc, argv, hello);
}
