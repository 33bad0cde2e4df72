// TLS (HTTPS and WSS) as one layer between any backend's transport and the engine (SPEC §12;
// docs/tls.md): OpenSSL 3 behind a BIO of its own, so epoll, libuv and later backends share it
// and the engine, WebSocket and SSE code see plain bytes. TLS 1.2 and 1.3 only.
#pragma once

#include <lithe/transport.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace lithe {

namespace tls {
class TlsContextAccess;
}

/// A certificate chain and its private key, both PEM files. Which names it serves (for SNI)
/// is read from the certificate: its DNS and IP subject alternative names, else its CN.
struct TlsCertificate {
  std::string cert_file; // the leaf first, then its intermediates
  std::string key_file;
};

struct TlsOptions {
  /// The first is the default (clients without SNI, or naming no configured host); the others
  /// are chosen by the name the client asks for. An RSA and an ECDSA certificate for the same
  /// names share one entry, and OpenSSL picks by what the client supports.
  std::vector<TlsCertificate> certificates;
  /// "1.2" or "1.3": the oldest version accepted (1.3 is the newest).
  std::string min_version = "1.2";
  /// TLS 1.2 cipher list and TLS 1.3 suites (OpenSSL syntax); empty: a modern default of
  /// ECDHE with AES-GCM or ChaCha20-Poly1305 only.
  std::string ciphers;
  std::string ciphersuites;
  /// ALPN protocols offered, in preference order (wire names). A client that offers ALPN but
  /// none of these is refused with no_application_protocol (RFC 7301 §3.2).
  std::vector<std::string> alpn = {"http/1.1", "http/1.0"}; // an HTTP/1.1 server serves 1.0
  /// Stateless session tickets (resumption). The key encrypting new tickets changes every
  /// `ticket_rotation`; tickets stay valid for two rotations, re-issued when the key is old.
  bool session_tickets = true;
  std::chrono::seconds ticket_rotation{3600};
  /// From accept to the end of the handshake; then the connection is closed.
  std::chrono::milliseconds handshake_timeout{10'000};
  /// Ask every client for a certificate and verify it against these CAs (PEM); empty: none.
  std::string client_ca;
  bool client_cert_required = false;
};

/// The loaded certificates and keys, shared by every worker. reload() reads the files again:
/// new handshakes use the new ones, open connections keep theirs.
class TlsContext {
public:
  /// Loads everything; nullptr with `error` naming the file and the problem on failure.
  static std::shared_ptr<TlsContext> create(const TlsOptions& options, std::string& error);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  /// Reads the certificate and key files again. On failure the old ones stay and the error
  /// is returned; "" on success. Thread-safe (SIGHUP's thread, say).
  std::string reload();
  /// How many times the certificates were loaded (1 after create).
  std::uint64_t generation() const noexcept;
  const TlsOptions& options() const noexcept;
  /// One line for the listening message: "TLS 1.2-1.3, 2 certificates, files: read+encrypt".
  std::string describe() const;

  struct State;

private:
  explicit TlsContext(std::unique_ptr<State> s) noexcept;
  friend class tls::TlsContextAccess;
  std::unique_ptr<State> s_;
};

/// Wraps a service (the HTTP engine's, say) in TLS: each accepted transport gets a TLS
/// session, and `inner` sees the decrypted bytes through a Transport of the same kind.
/// ListenInfo::tls is set for the inner service (url_scheme https).
ServiceFactory tls_service(ServiceFactory inner, std::shared_ptr<TlsContext> tls);

/// Whether this kernel can do TLS itself (the "tls" TCP upper-layer protocol), so that files
/// could go out with sendfile under TLS. Checked once.
bool kernel_tls_available() noexcept;

} // namespace lithe
