// systemd's side of a service, without libsystemd: socket activation (sd_listen_fds(3)) and
// readiness, stopping and watchdog notifications (sd_notify(3)). Both are small documented
// protocols over environment variables and a datagram socket. docs/deploy.md shows the units.
#pragma once

#include <chrono>
#include <string_view>
#include <vector>

namespace lithe::systemd {

/// The listening sockets systemd passed (LISTEN_PID is this process; LISTEN_FDS of them from
/// fd 3), or none. The variables are removed, so child processes do not take them for theirs.
std::vector<int> listen_fds();

/// Sends `state` ("READY=1", "STOPPING=1", "RELOADING=1", "WATCHDOG=1", "STATUS=...",
/// several joined by newlines) to $NOTIFY_SOCKET. False when not run under systemd (no
/// socket), or if it could not be sent.
bool notify(std::string_view state);

/// How often systemd expects WATCHDOG=1 ($WATCHDOG_USEC, when $WATCHDOG_PID is unset or this
/// process), or zero when the unit has no WatchdogSec.
std::chrono::microseconds watchdog_interval();

} // namespace lithe::systemd
