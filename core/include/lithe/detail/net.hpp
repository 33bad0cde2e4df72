// Socket helpers shared by the backends (no HTTP here): listeners with SO_REUSEPORT, peer
// addresses as text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>

#include <netinet/in.h>
#include <sys/socket.h>

namespace lithe::detail {

/// A non-blocking, close-on-exec TCP listener on host:port with SO_REUSEADDR and
/// SO_REUSEPORT (one per worker, the kernel spreads connections). -1 and `ec` on failure.
/// `first`: the server's first listener, which must not join a port another process holds.
int listen_tcp(const std::string& host, std::uint16_t port, int backlog, std::error_code& ec,
               bool first = false);
/// The port a socket is bound to.
std::uint16_t local_port(int fd) noexcept;
/// An IPv4 or IPv6 peer address, kept small (a connection holds one).
union PeerAddress {
  sockaddr sa;
  sockaddr_in v4;
  sockaddr_in6 v6;
};
/// "127.0.0.1" or "::1" into out; returns the length.
std::size_t format_address(const PeerAddress& a, char* out, std::size_t cap) noexcept;
/// sendfile(2) from `fd` at `offset` into the socket, without blocking: the bytes sent, 0 when
/// the socket is full; `ec` on an error (io_error when the file is shorter than promised).
std::size_t send_file(int sock, int fd, std::uint64_t offset, std::size_t len,
                      std::error_code& ec) noexcept;
/// Sets TCP_NODELAY: responses are written whole, so Nagle only adds latency.
void set_nodelay(int fd) noexcept;

} // namespace lithe::detail
