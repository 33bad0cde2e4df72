// Zero-downtime restart (docs/deploy.md, "Restarts"): on SIGUSR2 the running server starts a
// new copy of its program with its listening sockets (LISTEN_FDS/LISTEN_PID, the protocol
// systemd's socket activation uses, so the new process reads them as it reads systemd's) and a
// readiness pipe (LITHE_READY_FD); it stops and drains only once the new one said it listens.
// Also the pid file (--pid-file), written atomically.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace lithe::restart {

/// The program's file, resolved at start from /proc/self/exe: a restart runs what is installed
/// at that path then (a deploy replaces the file), not the inode this process runs from.
std::string executable_path();

struct Outcome {
  pid_t pid = -1;    // the new process (-1 if none could be made)
  std::string error; // "" when it is ready; else why not (it is gone by then)
};

/// Starts `exe` with `argv` and this environment, handing it `sockets` as fds 3.. (LISTEN_FDS)
/// and a pipe whose fd LITHE_READY_FD names, and waits until the new process says it listens,
/// it ends, or `within` passes (then it is stopped: SIGTERM, SIGKILL a second later). `tick`
/// runs every `tick_every` while waiting (the systemd watchdog). Only async-signal-safe calls
/// run between fork and exec; every descriptor but 0-2 and those handed over is closed there.
Outcome start_new_process(const std::string& exe, const std::vector<std::string>& argv,
                          const std::vector<int>& sockets, std::chrono::milliseconds within,
                          const std::function<void()>& tick, std::chrono::milliseconds tick_every);

/// In a process a restart started: the readiness pipe (its variable removed), or -1.
int take_ready_fd();
/// Tells the process that started this one that it listens ("ready PID\n"), and closes `fd`.
void signal_ready(int fd);

/// Writes this process's pid to `path` atomically (a temporary file renamed over it), so a
/// reader never sees it half written. The error, or "".
std::string write_pid_file(const std::string& path);
/// Removes `path` if it still holds this process's pid (after a restart it names the new one).
void remove_pid_file(const std::string& path);

} // namespace lithe::restart
