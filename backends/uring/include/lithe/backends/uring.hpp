// The io_uring backend (Linux 6.0+, liburing): multishot accept, multishot receive into a
// provided buffer ring per worker, sends as SQEs, one io_uring_enter per loop turn. SPEC §10;
// docs/backends.md.
#pragma once

#include <lithe/backend.hpp>

#include <memory>
#include <string>

namespace lithe::backend {

/// Why io_uring cannot serve here ("" when it can): the kernel lacks it (ENOSYS), it is
/// forbidden (EPERM: /proc/sys/kernel/io_uring_disabled, a seccomp filter), or the kernel is
/// too old for what the backend needs (multishot receive, provided buffer rings: 6.0).
std::string uring_unavailable();

std::unique_ptr<Backend> make_uring_backend();

} // namespace lithe::backend
