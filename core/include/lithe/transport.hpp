// The contract between the HTTP/1.1 engine (core) and a backend (SPEC §10; docs/backends.md).
// A backend moves bytes and time and knows nothing of HTTP; the engine parses and answers and
// knows nothing of sockets. Both sides run on the connection's loop thread only.
#pragma once

#include <lithe/close.hpp>
#include <lithe/loop.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <sys/uio.h>
#include <system_error>

namespace lithe {

/// One accepted connection, as the backend offers it to the engine.
class Transport {
public:
  virtual Loop& loop() noexcept = 0;
  /// Writes what the socket takes now, without blocking: returns the bytes written (0 when
  /// the socket is full). A hard error (reset, broken pipe) sets `ec`.
  virtual std::size_t try_write(const iovec* iov, int iovcnt, std::error_code& ec) noexcept = 0;
  /// Writes all of `iov` in the background and then calls the handler's on_write_done. The
  /// memory stays untouched until then. At most one write or sendfile is in flight.
  virtual void write(const iovec* iov, int iovcnt) noexcept = 0;
  /// sendfile(2): backends that can send a file without copying say so here.
  virtual bool can_sendfile() const noexcept { return false; }
  virtual std::size_t try_sendfile(int fd, std::uint64_t offset, std::size_t len,
                                   std::error_code& ec) noexcept {
    (void)fd, (void)offset, (void)len;
    ec = std::make_error_code(std::errc::operation_not_supported);
    return 0;
  }
  /// Sends the range in the background, then on_write_done (only if can_sendfile()).
  virtual void sendfile(int fd, std::uint64_t offset, std::size_t len) noexcept {
    (void)fd, (void)offset, (void)len;
  }
  /// Flow control: stop and restart calling on_read.
  virtual void pause_reading() noexcept = 0;
  virtual void resume_reading() noexcept = 0;
  /// Sends FIN once nothing is in flight (the engine calls it only then).
  virtual void shutdown_write() noexcept = 0;
  /// Closes the socket. The handler's on_closed follows later on the loop, never from
  /// inside this call; no other handler call comes after close().
  virtual void close() noexcept = 0;
  /// close(), when the engine has given up on the peer (a timeout, the peer gone, an error):
  /// a layer that still holds bytes the engine counts as sent (TLS's unsent records) drops
  /// them instead of finishing them first. A backend's is close().
  virtual void abort() noexcept { close(); }
  /// The peer's address as text ("127.0.0.1", "::1") into `out`; returns its length.
  virtual std::size_t peer_address(char* out, std::size_t cap) const noexcept = 0;
  /// Memory a layer between the socket and the engine holds for this connection (TLS's
  /// unsent records, say); the engine counts it in the connection's budget.
  virtual std::size_t memory() const noexcept { return 0; }
  /// What a TLS layer knows of the session (SPEC 12.2): "protocol", "cipher", "sni", "alpn",
  /// "client_verify", "client_subject", "client_issuer", "client_cert"; "" without TLS.
  virtual std::string tls_info(std::string_view name) const {
    (void)name;
    return {};
  }

protected:
  ~Transport() = default;
};

/// What the engine gives the backend for each connection.
class TransportHandler {
public:
  /// Bytes from the peer, valid during the call only.
  virtual void on_read(const char* data, std::size_t len) = 0;
  /// The peer shut down its side (read returned 0). No more on_read follows.
  virtual void on_eof() = 0;
  /// The background write() or sendfile() finished, or failed with `ec`.
  virtual void on_write_done(std::error_code ec) = 0;
  /// The connection is gone: after close(), or on an error or reset the backend saw (then
  /// `reason` says which). The last call; the handler frees itself here.
  virtual void on_closed(CloseReason reason) = 0;
  /// Graceful stop (after Service::stop()): finish what is in flight, then close; an idle
  /// connection closes now. The backend calls it once for each open connection.
  virtual void on_stop() = 0;

protected:
  ~TransportHandler() = default;
};

/// Live counters of one worker, readable from any thread (the leak guard, SPEC §6.4).
struct WorkerStats {
  long connections = 0;
  long requests = 0;  // requests answered since start
  long exchanges = 0; // requests whose state is alive (in progress, or held by the app)
  long awaiting = 0;  // requests that returned the async sentinel, no response yet
  long bodies = 0;    // deferrable or streaming bodies still open
  long sockets = 0;   // hijacked sockets still open (WebSockets)
};

/// What a backend serves: one per worker loop, made by a ServiceFactory on that loop's thread.
class Service {
public:
  virtual ~Service() = default;
  /// A new connection: returns its handler, which lives until its on_closed.
  virtual TransportHandler* accept(Transport& transport) = 0;
  /// Graceful stop begins: requests from now on are answered with Connection: close. The
  /// backend then calls on_stop() on each open connection's handler (the service keeps no
  /// list of its own: one list per worker, the backend's, so an idle connection costs less).
  virtual void stop() = 0;
  /// Live connections; after stop(), the backend ends the loop when this reaches 0 (or at
  /// its deadline, when it closes the rest).
  virtual std::size_t connections() const noexcept = 0;
  virtual WorkerStats stats() const noexcept = 0;
};

struct ListenInfo {
  std::uint16_t port = 0; // the bound port (SERVER_PORT when the request has no Host)
  bool tls = false;
};

using ServiceFactory = std::function<std::unique_ptr<Service>(Loop&, const ListenInfo&)>;

} // namespace lithe
