// Spool: small bodies stay in memory, large ones go to an unlinked file, limits end them.
#include <lithe/lithe.hpp>
#include <lithe/mw/spool.hpp>

#include <catch2/catch.hpp>

#include <unistd.h>

using namespace lithe;

namespace {

/// Answers where the body went, its size and its bytes read back.
App spooling(mw::SpoolOptions o) {
  return [o](Env& env) -> Response {
    mw::spool(env, o, [cb = env.async_callback()](mw::SpooledBody& b) {
      if (b.error != InputError::none) {
        cb({413, {}, std::string(to_string(b.error))});
        return;
      }
      std::string back = b.memory;
      if (b.in_file()) {
        back.resize(static_cast<std::size_t>(b.size));
        REQUIRE(::pread(b.file.fd(), back.data(), back.size(), 0) ==
                static_cast<ssize_t>(back.size()));
      }
      cb({200, {}, std::string(b.in_file() ? "file " : "memory ") + back});
    });
    return lithe::async;
  };
}

} // namespace

TEST_CASE("A body under the threshold is spooled in memory, a larger one to a temporary file") {
  mw::SpoolOptions o;
  o.memory_limit = 10;
  CHECK(MockRequest(spooling(o)).post("/", "small").body == "memory small");
  std::string big(5000, 'b');
  CHECK(MockRequest(spooling(o)).post("/", big).body == "file " + big);
}

TEST_CASE("A body over the spool's limit ends too_large") {
  mw::SpoolOptions o;
  o.max_bytes = 4;
  auto r = MockRequest(spooling(o)).post("/", "too long");
  CHECK(r.status == 413);
}
