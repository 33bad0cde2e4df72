// Health: liveness and readiness for a balancer or an orchestrator. GET `live` answers 200 as
// long as the process serves; GET `ready` answers 200, and 503 once `draining` is set (lithe::run
// sets it when a graceful stop begins), so a balancer stops sending before connections close.
// docs/metrics.md.
#pragma once

#include <lithe/app.hpp>

#include <atomic>
#include <memory>
#include <string>

namespace lithe::mw {

struct HealthOptions {
  std::string live = "/healthz";
  std::string ready = "/readyz";
  /// Set when the server begins to stop (shared with whoever stops it); nullptr: never.
  std::shared_ptr<std::atomic<bool>> draining;
};

Middleware health(HealthOptions options = {});

} // namespace lithe::mw
