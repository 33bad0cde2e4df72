// lithe-mw-target: the hostile suite's target for the request middleware (tests/hostile/
// mw_attacks_test.cpp): a signed-cookie session, CSRF, and a rate limit keyed by the X-Key
// header (only requests that carry one count), at most 1,000 keys per worker.
#include <lithe/lithe.hpp>
#include <lithe/mw/cookies.hpp>
#include <lithe/mw/csrf.hpp>
#include <lithe/mw/rate_limit.hpp>
#include <lithe/mw/session.hpp>
#include <lithe/server.hpp>

int main(int argc, char** argv) {
  using namespace lithe;
  App app = Builder([](Builder& b) {
              b.use(mw::rate_limit(
                  {.rate = 1,
                   .burst = 2,
                   .key = [](const Env& e) { return std::string(e.header("x-key").value_or("")); },
                   .counts = [](const Env& e) { return e.header("x-key").has_value(); },
                   .max_keys = 1000}));
              b.use(mw::session({.secrets = {std::string(32, 'h')}, .encrypt = true}));
              b.use(mw::csrf());
              b.run([](Env& env) -> Response {
                std::size_t n = mw::cookies(env).size();
                auto user = mw::session(env).get("user");
                return {200,
                        {{"Content-Type", "text/plain"}},
                        std::string(user.value_or("nobody")) + " " + std::to_string(n) + "\n"};
              });
            }).to_app();
  return run({.name = "lithe-mw-target", .description = "Sessions, CSRF and rate limits"}, argc,
             argv, app);
}
