// Test support: hand-made WebSocket client frames and a frame reader.
#include "ws_client.hpp"
#include "ws_wire.hpp"

namespace lithe::test {

std::string upgrade_request(std::string_view path, std::string_view extra) {
  return "GET " + std::string(path) +
         " HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
         std::string(extra) + "\r\n";
}

std::string client_frame(std::uint8_t first, std::string_view payload, bool mask) {
  static const unsigned char key[4] = {0x12, 0x34, 0x56, 0x78};
  return wire::masked_frame(first, payload, key, mask);
}

std::uint16_t ServerFrame::code() const {
  return payload.size() >= 2
             ? static_cast<std::uint16_t>(static_cast<unsigned char>(payload[0]) << 8 |
                                          static_cast<unsigned char>(payload[1]))
             : 0;
}

std::unique_ptr<RawClient> open_ws(std::uint16_t port, std::string_view path,
                                   std::string_view extra, std::string* head) {
  auto c = std::make_unique<RawClient>(port);
  if (!c->connected() || !c->send(upgrade_request(path, extra))) return nullptr;
  std::string h = c->read_until("\r\n\r\n", 5s);
  if (head) *head = h;
  if (!h.starts_with("HTTP/1.1 101")) return nullptr;
  return c;
}

std::optional<ServerFrame> read_frame(RawClient& c, std::chrono::milliseconds within) {
  std::string h = c.read_bytes(2, within);
  if (h.size() < 2) return std::nullopt;
  ServerFrame f;
  f.fin = static_cast<unsigned char>(h[0]) & 0x80;
  f.rsv1 = static_cast<unsigned char>(h[0]) & 0x40;
  f.opcode = static_cast<unsigned char>(h[0]) & 0x0F;
  std::uint64_t len = static_cast<unsigned char>(h[1]) & 0x7F;
  if (len >= 126) {
    std::string ext = c.read_bytes(len == 126 ? 2 : 8, within);
    len = 0;
    for (char b : ext)
      len = len << 8 | static_cast<unsigned char>(b);
  }
  while (f.payload.size() < len) {
    std::string piece = c.read_bytes(static_cast<std::size_t>(len) - f.payload.size(), within);
    if (piece.empty()) return std::nullopt;
    f.payload += piece;
  }
  return f;
}

} // namespace lithe::test
