// Test support: one of the app binaries (build/apps/lithe-NAME) running in the background on
// an ephemeral port, for what only a whole program does (its flags, signals, its messages).
// Stopped by its pid on destruction.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace lithe::test {

using namespace std::chrono_literals;

/// The path of an app binary: app_path("hello") is ".../apps/lithe-hello".
std::string app_path(std::string_view name);

class AppProcess {
public:
  /// Starts lithe-NAME with --backend BACKEND --port 0 and `flags`, and waits (bounded) for
  /// its listening line; throws with its stderr if it exits or does not listen within 10 s.
  /// `wrapper`: a program (and its arguments) that runs the app, prepended to its command.
  AppProcess(std::string_view name, std::string_view backend, std::vector<std::string> flags,
             std::vector<std::string> wrapper = {});
  ~AppProcess();
  AppProcess(const AppProcess&) = delete;
  AppProcess& operator=(const AppProcess&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  pid_t pid() const noexcept { return pid_; }
  std::string out() const;
  std::string err() const;
  /// Waits until stderr holds `what`; false at the deadline.
  bool err_contains(std::string_view what, std::chrono::milliseconds within = 5s) const;
  /// SIGTERM, then a bounded wait (SIGKILL after 10 s); the exit code, -1 if killed.
  int stop();

private:
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  int exit_code_ = -1;
  std::string out_path_, err_path_;
};

} // namespace lithe::test
