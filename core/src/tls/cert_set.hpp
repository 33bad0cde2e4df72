// The loaded certificates of one TlsContext generation: an SSL_CTX per certificate (or per
// RSA+ECDSA pair for the same names), and the names SNI picks them by. Immutable once built;
// connections hold the set they started with, so a reload never pulls one from under them.
#pragma once

#include <lithe/tls.hpp>

#include <openssl/ssl.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace lithe::tls {

struct TicketKeys;

struct CertSet {
  std::vector<SSL_CTX*> ctxs;                         // [0]: the default
  std::unordered_map<std::string, SSL_CTX*> exact;    // lower-case host names and IPs
  std::unordered_map<std::string, SSL_CTX*> wildcard; // "example.com" for "*.example.com"
  std::vector<unsigned char> alpn;                    // the offered protocols, wire format
  TicketKeys* keys = nullptr;                         // the context's, shared by generations

  CertSet() = default;
  CertSet(const CertSet&) = delete;
  CertSet& operator=(const CertSet&) = delete;
  ~CertSet();
  /// The context serving `host` (SNI), or nullptr when no certificate names it.
  SSL_CTX* find(std::string_view host) const;
};

/// The set an SSL_CTX belongs to (its ex_data), for the SNI, ALPN and ticket callbacks.
CertSet* set_of(SSL_CTX* ctx) noexcept;

/// What a TlsService needs of its TlsContext.
class TlsContextAccess {
public:
  static std::shared_ptr<const CertSet> current(const TlsContext& c);
  static std::chrono::milliseconds handshake_timeout(const TlsContext& c);
};

} // namespace lithe::tls
