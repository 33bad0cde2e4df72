// The server's error log (lithe.errors): one line per call, written whole, from any thread.
// Defaults to stderr; a program may send it elsewhere.
#pragma once

#include <lithe/function.hpp>

#include <string_view>

namespace lithe {

/// Writes one line to the error log, prefixed with the time and "lithe: ".
void log_error(std::string_view message) noexcept;
/// Replaces the error log's destination (nullptr restores stderr). Not thread-safe against
/// concurrent log_error: call it before starting servers.
void set_error_log(Function<void(std::string_view line)> sink);

} // namespace lithe
