// lithe-static: serves the folder given with --root DIR (required: there is no default, so it
// never publishes the directory it was started from) with the stack ConditionalGet ->
// Deflater -> Static, and CommonLogger in front with --log common|json.
#include <lithe/lithe.hpp>
#include <lithe/mw/conditional_get.hpp>
#include <lithe/mw/deflater.hpp>
#include <lithe/mw/static.hpp>
#include <lithe/server.hpp>

#include <iostream>

int main(int argc, char** argv) {
  lithe::Program program;
  program.name = "lithe-static";
  program.description = "Serves a folder: ranges, 304s, gzip, sendfile";
  program.extra_flags = {{"root", "the folder to serve (required)", ""},
                         {"cache-control", "a Cache-Control header to send", ""},
                         {"dotfiles", "serve files and folders whose name starts with '.'", "no"}};
  // Checked before lithe::run so that a missing --root is a usage error (exit 2) like any other
  // bad flag, and --help still works without it.
  lithe::CommandLine cl =
      lithe::parse_command_line(argc, argv, program.defaults, program.extra_flags);
  if (!cl.help && cl.error.empty()) {
    if (cl.extra["root"].empty()) {
      std::cerr << "lithe-static: --root DIR is required: the folder to serve (it is no longer "
                   "the current directory by default)\nrun lithe-static --help for every option\n";
      return 2;
    }
    if (const std::string& d = cl.extra["dotfiles"]; d != "yes" && d != "no") {
      std::cerr << "lithe-static: --dotfiles must be yes or no, not '" << d << "'\n";
      return 2;
    }
  }
  return lithe::run(program, argc, argv, [](const lithe::CommandLine& cl) {
    lithe::mw::StaticOptions o;
    o.root = cl.extra.at("root");
    o.cache_control = cl.extra.at("cache-control");
    o.dotfiles = cl.extra.at("dotfiles") == "yes";
    return lithe::Builder([&o](lithe::Builder& b) {
             b.use(lithe::mw::conditional_get());
             b.use(lithe::mw::deflater());
             b.run(lithe::mw::files(o));
           })
        .to_app();
  });
}
