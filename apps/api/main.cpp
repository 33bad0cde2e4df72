// lithe-api: a todo service on the request layer; see api.hpp. Open / in a browser and log in
// with one of --users (demo/demo by default).
#include "api.hpp"

#include <lithe/log.hpp>
#include <lithe/server.hpp>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>
#include <stdexcept>

namespace api {

bool password_ok(const std::vector<std::pair<std::string, std::string>>& users,
                 std::string_view user, std::string_view password) {
  // Digests of equal length, compared over every entry: neither which entry matched, nor where
  // or whether the lengths differ, shows in the time taken.
  auto digest = [](std::string_view s) {
    std::array<unsigned char, SHA256_DIGEST_LENGTH> d{};
    SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d.data());
    return d;
  };
  auto u = digest(user), p = digest(password);
  int ok = 0;
  for (const auto& [name, secret] : users) {
    auto nu = digest(name), np = digest(secret);
    int differs =
        CRYPTO_memcmp(u.data(), nu.data(), u.size()) | CRYPTO_memcmp(p.data(), np.data(), p.size());
    ok |= static_cast<int>(differs == 0);
  }
  return ok != 0;
}

} // namespace api

namespace {

// "demo:demo,alice:wonderland" → {{demo, demo}, {alice, wonderland}}.
std::vector<std::pair<std::string, std::string>> parse_users(std::string_view list) {
  std::vector<std::pair<std::string, std::string>> users;
  while (!list.empty()) {
    std::size_t comma = list.find(',');
    std::string_view one = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    std::size_t colon = one.find(':');
    if (colon == 0 || colon == std::string_view::npos || colon + 1 == one.size())
      throw std::invalid_argument("--users wants name:password[,name:password...]");
    users.emplace_back(one.substr(0, colon), one.substr(colon + 1));
  }
  if (users.empty()) throw std::invalid_argument("--users names no user");
  return users;
}

} // namespace

int main(int argc, char** argv) {
  static api::Todos todos; // outlives the server and its workers
  static api::Config config;
  lithe::Program program;
  program.name = "lithe-api";
  program.description = "A todo service: login form, signed session, CSRF, JSON API, CORS, "
                        "rate-limited login, avatar upload; open / in a browser";
  program.defaults.http.stream_bodies = true; // the avatar streams to a file as it arrives
  program.extra_flags = {
      {"users", "who may log in: name:password[,name:password...]", "demo:demo"},
      {"secret",
       "the session key (32 bytes or more); without it a random one, so sessions end with the "
       "process",
       ""},
      {"origin", "an origin whose pages may call the API with the session (CORS)", ""},
  };
  return lithe::run(program, argc, argv, [](const lithe::CommandLine& cl) -> lithe::App {
    config.users = parse_users(cl.extra.at("users"));
    std::string secret = cl.extra.at("secret");
    if (secret.empty()) {
      secret.resize(32);
      if (RAND_bytes(reinterpret_cast<unsigned char*>(secret.data()), 32) != 1)
        throw std::runtime_error("no random bytes for the session key");
    } else if (secret.size() < 32) {
      throw std::invalid_argument("--secret must have 32 bytes or more");
    }
    config.secrets = {secret};
    config.origin = cl.extra.at("origin");
    return api::app(todos, config);
  });
}
