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
/// A non-blocking, close-on-exec listener on a unix socket at `path`, its file given `mode`
/// (0: as the umask leaves it). A stale socket file (nothing accepts on it) is replaced; a
/// live one is EADDRINUSE; any other file there is EEXIST. The workers share it (dup).
int listen_unix(const std::string& path, unsigned mode, int backlog, std::error_code& ec);
/// The port a socket is bound to.
std::uint16_t local_port(int fd) noexcept;
/// An IPv4 or IPv6 socket address, as accept(2) and getsockname(2) fill it.
union PeerAddress {
  sockaddr sa;
  sockaddr_in v4;
  sockaddr_in6 v6;
};
/// What a connection keeps of its peer (REMOTE_ADDR): the IP alone, 16 bytes, IPv4 as an
/// IPv4-mapped IPv6 address (::ffff:a.b.c.d). Every idle connection holds one. A unix socket's
/// peer is on this machine: 127.0.0.1, as Unicorn and Puma report it.
struct PeerIp {
  in6_addr addr{};
  static PeerIp of(const PeerAddress& a) noexcept;
};
/// "127.0.0.1" or "::1" into out (IPv4-mapped addresses print as IPv4); returns the length.
std::size_t format_address(const PeerIp& ip, char* out, std::size_t cap) noexcept;
/// sendfile(2) from `fd` at `offset` into the socket, without blocking: the bytes sent, 0 when
/// the socket is full; `ec` on an error (io_error when the file is shorter than promised).
std::size_t send_file(int sock, int fd, std::uint64_t offset, std::size_t len,
                      std::error_code& ec) noexcept;
/// Sets TCP_NODELAY: responses are written whole, so Nagle only adds latency.
void set_nodelay(int fd) noexcept;

} // namespace lithe::detail
