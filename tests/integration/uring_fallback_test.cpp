// The uring backend where io_uring is forbidden (a seccomp filter makes io_uring_setup fail
// with EPERM, as a container's policy does): `--backend uring` says why in one line and
// serves on epoll, and its listening line names the backend that serves.
#include "support/app_process.hpp"
#include "support/net_client.hpp"

#include <lithe/backends/uring.hpp>

#include <catch2/catch.hpp>

using namespace lithe;
using namespace lithe::test;

TEST_CASE("An app asked for the uring backend with io_uring forbidden says why and serves on epoll",
          "[uring]") {
  AppProcess app("hello", "uring", {}, {LITHE_NO_IO_URING});
  CHECK(app.out().find("(epoll, 1 thread)") != std::string::npos);
  REQUIRE(app.err_contains("uring backend unavailable"));
  CHECK(app.err().find("io_uring_setup is forbidden (EPERM") != std::string::npos);
  CHECK(app.err().find("serving with the epoll backend") != std::string::npos);
  RawClient c(app.port());
  REQUIRE(c.send(get("/")));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "Hello, World!");
  CHECK(app.stop() == 0);
}

TEST_CASE("An app asked for the uring backend where io_uring works serves on uring, with no "
          "fallback line",
          "[uring]") {
  REQUIRE(backend::uring_unavailable().empty()); // this machine's kernel (6.0 or later)
  AppProcess app("hello", "uring", {});
  CHECK(app.out().find("(uring, 1 thread)") != std::string::npos);
  RawClient c(app.port());
  REQUIRE(c.send(get("/")));
  REQUIRE(c.read_response());
  CHECK(app.err().find("unavailable") == std::string::npos);
  CHECK(app.stop() == 0);
}
