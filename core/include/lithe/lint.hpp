// Lint checks the protocol in both directions, like Rack::Lint (SPEC §9): the env a server
// built, and the response an app returned, late or not. Each violation names its SPEC rule.
#pragma once

#include <lithe/app.hpp>

#include <cstddef>
#include <string>

namespace lithe {

struct LintViolation {
  std::string rule;    // "3.1", the SPEC.md rule broken
  std::string message; // what was wrong, with the offending value
};

struct LintOptions {
  /// Called for every violation, on the loop thread. Default: log to stderr. A violation
  /// found in a response returned from `call` also turns it into a 500.
  Function<void(const LintViolation&)> on_violation;
};

/// Wraps `app` so every request and response is checked.
App lint(App app, LintOptions options = {});
Middleware lint_middleware();

/// Violations seen by every Lint in this process (tests assert on it).
std::size_t lint_violation_count() noexcept;

namespace detail {
/// Reports a violation found outside Lint's wrapper (the engine's own checks of handles).
void report_lint(LintViolation v);
} // namespace detail

} // namespace lithe
