// The engine's timeout nodes (DESIGN: "each timer has one purpose and none cancels another").
// Each list of the context has one fixed duration, so appending on (re)arm keeps it sorted
// by deadline and a sweep pops the expired nodes from the front.
#pragma once

#include <lithe/detail/intrusive_list.hpp>

#include <cstdint>

namespace lithe::http {

class HttpConnection;

/// On one of the context's lists (core's intrusive list) while armed.
struct TimeoutNode : detail::ListHook<> {
  std::uint32_t deadline_ms = 0; // on the context's clock; wraps (compared as a difference)
  std::uint8_t list = 0;         // 0: not armed
};

/// The purposes. The input side has one at a time, by phase (the request's head, its body,
/// the keep-alive wait, the lingering close, the keep-alive wait left at a stop): a ReadTimeout, a
/// base of the connection. The output side's runs beside it while output is queued (no progress in
/// writing it): a SendTimeout, kept with the output queue, so an idle connection does not carry it.
enum class Timeout : std::uint8_t { none = 0, head, body, idle, linger, send, drain, count };

struct ReadTimeout : TimeoutNode {};
struct SendTimeout : TimeoutNode {
  HttpConnection* conn = nullptr;
};

} // namespace lithe::http
