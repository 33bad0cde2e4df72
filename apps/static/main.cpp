// lithe-static: serves a folder (the current one by default, or --root DIR) with the stack
// ConditionalGet -> Deflater -> Static, and CommonLogger in front with --log common|json.
#include <lithe/lithe.hpp>
#include <lithe/mw/conditional_get.hpp>
#include <lithe/mw/deflater.hpp>
#include <lithe/mw/static.hpp>
#include <lithe/server.hpp>

int main(int argc, char** argv) {
  lithe::Program program;
  program.name = "lithe-static";
  program.description = "Serves a folder: ranges, 304s, gzip, sendfile";
  program.extra_flags = {{"root", "the folder to serve", "."},
                         {"cache-control", "a Cache-Control header to send", ""}};
  return lithe::run(program, argc, argv, [](const lithe::CommandLine& cl) {
    lithe::mw::StaticOptions o;
    if (auto it = cl.extra.find("root"); it != cl.extra.end()) o.root = it->second;
    if (auto it = cl.extra.find("cache-control"); it != cl.extra.end())
      o.cache_control = it->second;
    return lithe::Builder([&o](lithe::Builder& b) {
             b.use(lithe::mw::conditional_get());
             b.use(lithe::mw::deflater());
             b.run(lithe::mw::files(o));
           })
        .to_app();
  });
}
