// Test support: one of the app binaries (build/apps/lithe-NAME) running in the background on
// an ephemeral port, for what only a whole program does (its flags, signals, its messages).
// Stopped by its pid on destruction.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace lithe::test {

using namespace std::chrono_literals;

/// The path of an app binary: app_path("hello") is ".../apps/lithe-hello"; a name with a '/'
/// is a path already (a copy of a binary elsewhere).
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
  /// Waits (bounded) for it to exit by itself: the exit code, or -2 if it is still running.
  int wait_exit(std::chrono::milliseconds within = 10s);

private:
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  int exit_code_ = -1;
  std::string out_path_, err_path_;
};

/// An app that restarts itself on SIGUSR2 (docs/deploy.md), started with --pid-file. After a
/// restart its process is no child of ours: it is found through the pid file, watched through a
/// pidfd, and stopped by its pid (SIGTERM, a bounded wait, SIGKILL) on destruction. Every
/// generation writes to the same stdout and stderr files.
class RestartingApp {
public:
  RestartingApp(std::string_view name, std::string_view backend, std::vector<std::string> flags);
  ~RestartingApp();
  RestartingApp(const RestartingApp&) = delete;
  RestartingApp& operator=(const RestartingApp&) = delete;

  std::uint16_t port() const noexcept { return first_->port(); }
  /// The process serving now.
  pid_t pid() const noexcept { return pid_; }
  /// SIGUSR2, then waits (bounded) until the pid file names a new process and the old one has
  /// exited 0. The new pid, or -1 (the old one goes on, or did not exit in time).
  pid_t restart(std::chrono::milliseconds within = 20s) {
    return signal_restart() ? await_restart(within) : -1;
  }
  /// The two halves of restart(), for a test that acts in between (answers a close frame).
  bool signal_restart();
  pid_t await_restart(std::chrono::milliseconds within = 20s);
  /// What the pid file says now (0 if it is missing or unreadable).
  pid_t pid_file_pid() const;
  std::string out() const { return first_->out(); }
  std::string err() const { return first_->err(); }
  bool err_contains(std::string_view what, std::chrono::milliseconds within = 5s) const {
    return first_->err_contains(what, within);
  }

private:
  std::string pid_file_;
  std::unique_ptr<AppProcess> first_;
  pid_t pid_ = -1;
};

/// Waits (bounded, through a pidfd) for a process that need not be our child to end; true once
/// it has (and then reaps it if it was ours).
bool wait_gone(pid_t pid, std::chrono::milliseconds within);

} // namespace lithe::test
