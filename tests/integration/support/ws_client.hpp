// Test support: the client side of RFC 6455 by hand (masked frames, the upgrade request, a
// frame reader with deadlines), for tests that must send what real clients never would.
#pragma once

#include "net_client.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace lithe::test {

/// A GET that asks to upgrade `path` to WebSocket, with extra header lines (each "...\r\n").
std::string upgrade_request(std::string_view path = "/", std::string_view extra = "");
/// A masked client frame; `first` carries FIN, RSV and the opcode as on the wire.
std::string client_frame(std::uint8_t first, std::string_view payload, bool mask = true);

struct ServerFrame {
  std::uint8_t opcode = 0;
  bool fin = false;
  bool rsv1 = false;
  std::string payload;
  /// A close frame's code (0 when it has none).
  std::uint16_t code() const;
};

/// Connects and upgrades (the 101 head is consumed); nullptr if the server refused.
std::unique_ptr<RawClient> open_ws(std::uint16_t port, std::string_view path = "/",
                                   std::string_view extra = "", std::string* head = nullptr);
/// The next frame, or nullopt at the deadline or the peer's close.
std::optional<ServerFrame> read_frame(RawClient& c, std::chrono::milliseconds within = 5s);

} // namespace lithe::test
