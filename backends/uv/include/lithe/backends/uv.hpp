// The libuv backend: uv_tcp connections, uv_timer timers and a uv_async for posts, one
// uv_loop per worker thread, each with its own SO_REUSEPORT listener. SPEC §10;
// docs/backends.md.
#pragma once

#include <lithe/backend.hpp>

#include <memory>

namespace lithe::backend {

std::unique_ptr<Backend> make_uv_backend();

} // namespace lithe::backend
