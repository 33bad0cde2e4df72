// The hand-written epoll backend (Linux): edge-triggered epoll, accept4, sendmsg/sendfile,
// a timer heap and an eventfd per worker loop. SPEC §10; docs/backends.md.
#pragma once

#include <lithe/backend.hpp>

#include <memory>

namespace lithe::backend {

std::unique_ptr<Backend> make_epoll_backend();

} // namespace lithe::backend
