#include <catch2/catch.hpp>
#include <lithe/function.hpp>

#include <array>
#include <memory>

TEST_CASE("Function holds move-only callables, small and large") {
  auto p = std::make_unique<int>(41);
  lithe::Function<int(int)> f = [p = std::move(p)](int x) { return *p + x; };
  CHECK(f(1) == 42);
  lithe::Function<int(int)> g = std::move(f);
  CHECK_FALSE(f);
  CHECK(g(2) == 43);

  std::array<long, 16> big{};
  big[15] = 7;
  lithe::Function<long()> h = [big] { return big[15]; };
  lithe::Function<long()> h2 = std::move(h);
  CHECK(h2() == 7);
}

TEST_CASE("Function destroys its callable exactly once") {
  auto counter = std::make_shared<int>(0);
  {
    lithe::Task t = [c = counter] { ++*c; };
    lithe::Task u = std::move(t);
    u();
    CHECK(counter.use_count() == 2);
  }
  CHECK(counter.use_count() == 1);
  CHECK(*counter == 1);
}
