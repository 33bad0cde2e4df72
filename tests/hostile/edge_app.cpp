// lithe-hostile-edge: the target of tests/hostile/edge_attacks_test.cpp. GET / (and /fwd)
// answer the client's address as client_ip decides it (X-Forwarded-For, or Forwarded under
// /fwd, trusted from loopback); POST /json parses a JSON body within the default limits and
// answers its size.
#include <lithe/lithe.hpp>
#include <lithe/mw/client_ip.hpp>
#include <lithe/mw/json_body.hpp>
#include <lithe/server.hpp>

int main(int argc, char** argv) {
  lithe::App who = [](lithe::Env& env) -> lithe::Response {
    return {200, {{"Content-Type", "text/plain"}}, std::string(env.remote_addr())};
  };
  lithe::App xff = lithe::mw::client_ip({.trusted_proxies = {"127.0.0.0/8"}})(who);
  lithe::App fwd = lithe::mw::client_ip(
      {.trusted_proxies = {"127.0.0.0/8"}, .header = lithe::mw::ForwardedHeader::forwarded})(who);
  lithe::App json = lithe::mw::json_body({.require_json = true})([](lithe::Env& env) {
    const nlohmann::json* v = lithe::mw::request_json(env);
    return lithe::mw::json_response(200, {{"size", v ? v->size() : 0}});
  });
  lithe::App app = [=](lithe::Env& env) -> lithe::Response {
    if (env.path() == "/json") return json(env);
    if (env.path() == "/fwd") return fwd(env);
    return xff(env);
  };
  return lithe::run({.name = "lithe-hostile-edge",
                     .description = "client_ip and JSON bodies under attack (tests/hostile)"},
                    argc, argv, app);
}
