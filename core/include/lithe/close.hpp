// Why a request, a body or a hijacked socket ended: the one close reason that reaches every
// close hook exactly once (SPEC rule 6.2).
#pragma once

#include <string_view>

namespace lithe {

enum class CloseReason : unsigned char {
  done,            // finished normally: the response or stream ended as the app asked
  client_gone,     // the peer closed or reset the connection
  timeout,         // a server timeout (header read, idle, body write, request timeout)
  server_stopping, // graceful stop reached this connection
  error,           // a protocol or I/O error, or the app failed the body
};

constexpr std::string_view to_string(CloseReason r) noexcept {
  switch (r) {
  case CloseReason::done:
    return "done";
  case CloseReason::client_gone:
    return "client gone";
  case CloseReason::timeout:
    return "timeout";
  case CloseReason::server_stopping:
    return "server stopping";
  case CloseReason::error:
    return "error";
  }
  return "unknown";
}

} // namespace lithe
