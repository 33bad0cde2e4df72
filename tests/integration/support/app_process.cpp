// Test support: an app binary in the background, its output in files, stopped by its pid.
#include "app_process.hpp"

#include "dev_certs.hpp"

#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <iterator>
#include <spawn.h>
#include <stdexcept>
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

} // namespace lithe::test
