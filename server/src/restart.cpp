// The restart's two sides: fork + execve with the listening sockets as fds 3.. (the systemd
// LISTEN_FDS protocol, sd_listen_fds(3)), a bounded wait for the new process's readiness line,
// and the pid file. See restart.hpp and docs/deploy.md.
#include "restart.hpp"

#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <limits.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace lithe::restart {

namespace {

constexpr const char* ready_variable = "LITHE_READY_FD";

bool starts_with(const char* s, std::string_view prefix) {
  return std::strncmp(s, prefix.data(), prefix.size()) == 0;
}

// Async-signal-safe: the decimal digits of n at out (room for 20), NUL-terminated.
void format_pid(char* out, long n) {
  char tmp[24];
  int i = 0;
  do {
    tmp[i++] = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n > 0);
  while (i > 0)
    *out++ = tmp[--i];
  *out = '\0';
}

std::string describe(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("was killed by ") + ::strsignal(WTERMSIG(status));
  return "ended";
}

int pidfd_open(pid_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

// Waits up to `within` for `pid` (our child) to end; its status, or -1 if it did not.
int reap(pid_t pid, int pidfd, std::chrono::milliseconds within) {
  int status = 0;
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(within.count()));
  }
  return ::waitpid(pid, &status, WNOHANG) == pid ? status : -1;
}

} // namespace

std::string executable_path() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "/proc/self/exe";
  std::string path(buf, static_cast<std::size_t>(n));
  if (path.ends_with(" (deleted)")) return "/proc/self/exe";
  return path;
}

Outcome start_new_process(const std::string& exe, const std::vector<std::string>& argv,
                          const std::vector<int>& sockets, std::chrono::milliseconds within,
                          const std::function<void()>& tick, std::chrono::milliseconds tick_every) {
  Outcome out;
  if (sockets.empty() || sockets.size() > 64) {
    out.error = sockets.empty() ? "there is no listening socket to hand over"
                                : "more than 64 listening sockets";
    return out;
  }
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    out.error = std::string("pipe: ") + std::strerror(errno);
    return out;
  }
  const int k = static_cast<int>(sockets.size());
  const int ready_target = 3 + k; // LISTEN_FDS start at 3 (SD_LISTEN_FDS_START)
  const int first_free = ready_target + 1;

  // Everything the child needs is made here: after fork only async-signal-safe calls run.
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e)
    if (!starts_with(*e, "LISTEN_PID=") && !starts_with(*e, "LISTEN_FDS=") &&
        !starts_with(*e, "LISTEN_FDNAMES=") && !starts_with(*e, "LITHE_READY_FD="))
      env.emplace_back(*e);
  env.push_back("LISTEN_FDS=" + std::to_string(k));
  env.push_back(std::string(ready_variable) + "=" + std::to_string(ready_target));
  char listen_pid[40] = "LISTEN_PID=";
  std::vector<char*> envp;
  for (std::string& e : env)
    envp.push_back(e.data());
  envp.push_back(listen_pid);
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  for (std::string& a : args)
    argp.push_back(a.data());
  argp.push_back(nullptr);
  std::string path = exe;
  sigset_t none;
  sigemptyset(&none);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  rlimit nofile{};
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  const int exec_failed_len = 12;

  pid_t pid = ::fork();
  if (pid < 0) {
    out.error = std::string("fork: ") + std::strerror(errno);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    return out;
  }
  if (pid == 0) {
    // The child: a fresh signal state (the server blocks its signals for sigwait; SIGPIPE is
    // ignored), the sockets at 3.., the pipe after them, nothing else open but 0-2.
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::sigaction(SIGPIPE, &dfl, nullptr);
    int moved[64 + 1];
    for (int i = 0; i < k; ++i)
      moved[i] = ::fcntl(sockets[static_cast<std::size_t>(i)], F_DUPFD, first_free);
    moved[k] = ::fcntl(pipe_fds[1], F_DUPFD, first_free);
    for (int i = 0; i <= k; ++i)
      if (moved[i] < 0 || ::dup2(moved[i], 3 + i) < 0) ::_exit(126);
    if (::syscall(SYS_close_range, first_free, ~0U, 0) != 0)
      for (int fd = first_free; fd < static_cast<int>(nofile.rlim_cur) && fd < (1 << 20); ++fd)
        ::close(fd);
    format_pid(listen_pid + 11, static_cast<long>(::getpid()));
    ::execve(path.c_str(), argp.data(), envp.data());
    if (errno == ENOENT) ::execve("/proc/self/exe", argp.data(), envp.data()); // moved away
    char msg[32] = "exec-failed ";
    format_pid(msg + exec_failed_len, errno);
    ssize_t ignored = ::write(ready_target, msg, std::strlen(msg));
    (void)ignored;
    ::_exit(127);
  }
  out.pid = pid;
  ::close(pipe_fds[1]);
  int pidfd = pidfd_open(pid);

  // The new process's line: "ready PID\n" once it listens; EOF if it ends first.
  std::string said;
  auto deadline = std::chrono::steady_clock::now() + within;
  bool eof = false;
  while (said.find('\n') == std::string::npos && !eof) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{pipe_fds[0], POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(std::min(left, tick_every).count()));
    if (rc < 0 && errno != EINTR) break;
    if (rc <= 0) {
      if (tick) tick();
      continue;
    }
    char buf[128];
    ssize_t n = ::read(pipe_fds[0], buf, sizeof buf);
    if (n > 0)
      said.append(buf, static_cast<std::size_t>(n));
    else if (n == 0 || errno != EINTR)
      eof = true;
    if (said.size() > 256) break;
  }
  ::close(pipe_fds[0]);
  if (said.starts_with("ready ")) {
    if (pidfd >= 0) ::close(pidfd);
    return out;
  }
  if (said.starts_with("exec-failed ")) {
    int err = std::atoi(said.c_str() + exec_failed_len);
    out.error = "it could not run " + exe + ": " + std::strerror(err);
    reap(pid, pidfd, std::chrono::milliseconds(1000));
  } else if (eof) {
    int status = reap(pid, pidfd, std::chrono::milliseconds(1000));
    out.error = "it " + (status >= 0 ? describe(status) : std::string("closed its pipe")) +
                " before it was ready";
    if (status < 0) {
      ::kill(pid, SIGKILL);
      reap(pid, pidfd, std::chrono::milliseconds(1000));
    }
  } else {
    // Not ready in time: it has not said it listens, so it is stopped, hard if it must be.
    ::kill(pid, SIGTERM);
    int status = reap(pid, pidfd, std::chrono::milliseconds(1000));
    if (status < 0) {
      ::kill(pid, SIGKILL);
      reap(pid, pidfd, std::chrono::milliseconds(1000));
    }
    out.error = "it was not ready within " + std::to_string(within.count()) + " ms; stopped it";
  }
  if (pidfd >= 0) ::close(pidfd);
  return out;
}

int take_ready_fd() {
  const char* v = std::getenv(ready_variable);
  int fd = -1;
  if (v && *v) {
    auto [p, ec] = std::from_chars(v, v + std::strlen(v), fd);
    if (ec != std::errc() || *p != '\0' || fd < 3) fd = -1;
  }
  ::unsetenv(ready_variable);
  if (fd >= 0 && ::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) fd = -1; // not open after all
  return fd;
}

void signal_ready(int fd) {
  if (fd < 0) return;
  std::string line = "ready " + std::to_string(::getpid()) + "\n";
  ssize_t ignored = ::write(fd, line.data(), line.size());
  (void)ignored;
  ::close(fd);
}

std::string write_pid_file(const std::string& path) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << ::getpid() << "\n";
    f.flush();
    if (!f) {
      std::remove(tmp.c_str());
      return "cannot write " + tmp;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string error = "cannot rename " + tmp + " to " + path + ": " + std::strerror(errno);
    std::remove(tmp.c_str());
    return error;
  }
  return {};
}

void remove_pid_file(const std::string& path) {
  std::ifstream f(path);
  long pid = 0;
  if (f >> pid && pid == static_cast<long>(::getpid())) std::remove(path.c_str());
}

} // namespace lithe::restart
