// Spool: a request body gathered in memory up to a threshold and in an unlinked temporary file
// beyond it (O_TMPFILE), read as it arrives (SPEC 2.13), so a handler gets a large upload whole
// without holding it in memory. Works on whole and streamed bodies alike. docs/input.md.
#pragma once

#include <lithe/body.hpp>
#include <lithe/env.hpp>

#include <cstdint>
#include <string>

namespace lithe::mw {

struct SpoolOptions {
  /// Bodies up to this stay in memory; a larger one moves to a temporary file.
  std::size_t memory_limit = 1 << 20;
  /// The most a body may bring; more ends it with InputError::too_large (the engine answers 413).
  std::uint64_t max_bytes = 1ULL << 30;
  /// Where the temporary file is made (it has no name and goes when closed).
  std::string dir = "/tmp";
};

/// The gathered body.
struct SpooledBody {
  InputError error = InputError::none; // too_large, timeout, client_gone...; or a file error
  std::string file_error;              // what failed writing the file, if that ended it
  std::uint64_t size = 0;
  std::string memory; // the body, when it stayed in memory
  File file;          // else the body in a temporary file (read it with pread from 0)
  bool in_file() const noexcept { return static_cast<bool>(file); }
};

/// Gathers env's body and then calls `done` once on the loop (not for a request that ended
/// before: then nothing is waiting for it). The handler returns lithe::async and answers from
/// `done`.
void spool(Env& env, SpoolOptions options, Function<void(SpooledBody&)> done);

} // namespace lithe::mw
