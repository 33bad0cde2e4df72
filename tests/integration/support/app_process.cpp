// Test support: an app binary in the background, its output in files, stopped by its pid.
#include "app_process.hpp"

#include "dev_certs.hpp"

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <iterator>
#include <poll.h>
#include <spawn.h>
#include <stdexcept>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace lithe::test {

namespace {
std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}
} // namespace

std::string app_path(std::string_view name) {
  if (name.find('/') != std::string_view::npos) return std::string(name);
  return std::string(LITHE_APP_DIR) + "/lithe-" + std::string(name);
}

AppProcess::AppProcess(std::string_view name, std::string_view backend,
                       std::vector<std::string> flags, std::vector<std::string> wrapper) {
  std::string dir = scratch_dir();
  out_path_ = dir + "/out";
  err_path_ = dir + "/err";
  std::vector<std::string> argv = {app_path(name), "--backend", std::string(backend), "--port",
                                   "0"};
  for (std::string& f : flags)
    argv.push_back(std::move(f));
  argv.insert(argv.begin(), wrapper.begin(), wrapper.end());
  std::vector<char*> args;
  for (std::string& a : argv)
    args.push_back(a.data());
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int rc = posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    pid_ = -1;
    throw std::runtime_error("cannot start " + argv[0]);
  }
  // "lithe-NAME listening on http(s)://127.0.0.1:PORT (...)"
  auto until = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < until) {
    std::string out = slurp(out_path_);
    if (auto at = out.find("://127.0.0.1:"); at != std::string::npos) {
      port_ = static_cast<std::uint16_t>(std::atoi(out.c_str() + at + 13));
      if (port_ != 0) return;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error(argv[0] + " exited at start: " + slurp(err_path_));
    }
    std::this_thread::sleep_for(10ms); // polling a file for the start line, bounded
  }
  stop();
  throw std::runtime_error(argv[0] + " did not start listening within 10 s");
}

AppProcess::~AppProcess() {
  stop();
}

std::string AppProcess::out() const {
  return slurp(out_path_);
}

std::string AppProcess::err() const {
  return slurp(err_path_);
}

bool AppProcess::err_contains(std::string_view what, std::chrono::milliseconds within) const {
  auto until = std::chrono::steady_clock::now() + within;
  for (;;) {
    if (err().find(what) != std::string::npos) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(10ms); // polling a file, bounded
  }
}

int AppProcess::stop() {
  if (pid_ <= 0) return exit_code_;
  ::kill(pid_, SIGTERM);
  auto until = std::chrono::steady_clock::now() + 10s;
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > until) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
      return exit_code_ = -1;
    }
    std::this_thread::sleep_for(10ms); // polling for the exit, bounded
  }
  pid_ = -1;
  return exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int AppProcess::wait_exit(std::chrono::milliseconds within) {
  if (pid_ <= 0) return exit_code_;
  if (!wait_gone(pid_, within)) return -2;
  int status = 0;
  ::waitpid(pid_, &status, 0); // it has ended: this reaps it at once
  pid_ = -1;
  return exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool wait_gone(pid_t pid, std::chrono::milliseconds within) {
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return errno == ESRCH; // gone (and reaped) already
  pollfd p{fd, POLLIN, 0};
  bool gone = ::poll(&p, 1, static_cast<int>(within.count())) == 1;
  ::close(fd);
  return gone;
}

RestartingApp::RestartingApp(std::string_view name, std::string_view backend,
                             std::vector<std::string> flags)
    : pid_file_(scratch_dir() + "/app.pid") {
  flags.push_back("--pid-file");
  flags.push_back(pid_file_);
  first_ = std::make_unique<AppProcess>(name, backend, std::move(flags));
  pid_ = first_->pid();
}

RestartingApp::~RestartingApp() {
  if (pid_ > 0 && pid_ != first_->pid()) {
    ::kill(pid_, SIGTERM);
    if (!wait_gone(pid_, 10s)) {
      ::kill(pid_, SIGKILL);
      wait_gone(pid_, 5s);
    }
  }
}

pid_t RestartingApp::pid_file_pid() const {
  std::ifstream f(pid_file_);
  long pid = 0;
  return f >> pid ? static_cast<pid_t>(pid) : 0;
}

bool RestartingApp::signal_restart() {
  return ::kill(pid_, SIGUSR2) == 0;
}

pid_t RestartingApp::await_restart(std::chrono::milliseconds within) {
  const pid_t old = pid_;
  auto until = std::chrono::steady_clock::now() + within;
  pid_t now = 0;
  for (;;) {
    now = pid_file_pid();
    if (now > 0 && now != old) break;
    if (std::chrono::steady_clock::now() >= until) return -1;
    std::this_thread::sleep_for(10ms); // polling the pid file, bounded
  }
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      until - std::chrono::steady_clock::now());
  if (old == first_->pid()) {
    if (first_->wait_exit(left) != 0) return -1;
  } else if (!wait_gone(old, left)) {
    return -1;
  }
  return pid_ = now;
}

} // namespace lithe::test
