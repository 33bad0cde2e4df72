// TlsContext: certificates and keys loaded into OpenSSL contexts, with SNI (RFC 6066 §3),
// ALPN (RFC 7301), session tickets under rotating keys (RFC 5077, RFC 8446 §4.6.1), and reload.
#include "cert_set.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>

namespace lithe::tls {

// ---- Session ticket keys: one ring per TlsContext, shared by every generation and worker, so
// a ticket issued by one worker (or before a reload) resumes on another.

struct TicketKeys {
  struct Key {
    std::array<unsigned char, 16> name;
    std::array<unsigned char, 32> aes, hmac;
    std::chrono::steady_clock::time_point born;
  };
  std::mutex mu;
  std::vector<Key> keys; // [0]: the newest, which encrypts
  std::chrono::seconds rotation{3600};
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);

  ~TicketKeys() { EVP_CIPHER_free(cipher); }

  // The key for new tickets, made anew once the newest is a rotation old. Three are kept, so a
  // ticket decrypts for two to three rotations (its lifetime, SSL_CTX_set_timeout, is two).
  bool current(Key& out) {
    std::lock_guard lock(mu);
    auto now = std::chrono::steady_clock::now();
    if (keys.empty() || now - keys[0].born >= rotation) {
      Key k;
      if (RAND_bytes(k.name.data(), 16) != 1 || RAND_bytes(k.aes.data(), 32) != 1 ||
          RAND_bytes(k.hmac.data(), 32) != 1)
        return false;
      k.born = now;
      keys.insert(keys.begin(), k);
      if (keys.size() > 3) keys.pop_back();
    }
    out = keys[0];
    return true;
  }
  // 1: found and current, 2: found but old (the client gets a new ticket), 0: unknown.
  int find(const unsigned char* name, Key& out) {
    std::lock_guard lock(mu);
    for (std::size_t i = 0; i < keys.size(); ++i)
      if (std::memcmp(keys[i].name.data(), name, 16) == 0) {
        out = keys[i];
        return i == 0 ? 1 : 2;
      }
    return 0;
  }
};

namespace {

int ex_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// The OpenSSL error queue as one line (and emptied).
std::string openssl_errors() {
  std::string s;
  while (unsigned long e = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(e);
    if (!s.empty()) s += "; ";
    s += reason ? reason : "error " + std::to_string(e);
  }
  return s.empty() ? "unknown OpenSSL error" : s;
}

bool set_mac_key(EVP_MAC_CTX* hctx, unsigned char* key) {
  OSSL_PARAM params[] = {OSSL_PARAM_construct_octet_string("key", key, 32),
                         OSSL_PARAM_construct_utf8_string("digest", const_cast<char*>("SHA256"), 0),
                         OSSL_PARAM_construct_end()};
  return EVP_MAC_CTX_set_params(hctx, params) == 1;
}

int ticket_key_cb(SSL* ssl, unsigned char key_name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
                  EVP_CIPHER_CTX* cctx, EVP_MAC_CTX* hctx, int enc) {
  CertSet* set = set_of(SSL_get_SSL_CTX(ssl));
  if (!set || !set->keys) return -1;
  TicketKeys& ring = *set->keys;
  TicketKeys::Key k;
  if (enc) {
    if (!ring.current(k)) return -1;
    std::memcpy(key_name, k.name.data(), 16);
    if (RAND_bytes(iv, 16) != 1) return -1;
    if (EVP_EncryptInit_ex(cctx, ring.cipher, nullptr, k.aes.data(), iv) != 1) return -1;
    return set_mac_key(hctx, k.hmac.data()) ? 1 : -1;
  }
  int found = ring.find(key_name, k);
  if (found == 0) return 0; // an unknown or expired key: a full handshake
  if (EVP_DecryptInit_ex(cctx, ring.cipher, nullptr, k.aes.data(), iv) != 1) return -1;
  return set_mac_key(hctx, k.hmac.data()) ? found : -1;
}

int servername_cb(SSL* ssl, int*, void*) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!name) return SSL_TLSEXT_ERR_NOACK;
  SSL_CTX* now = SSL_get_SSL_CTX(ssl);
  CertSet* set = set_of(now);
  // A name no certificate holds gets the default one (as nginx does); the client decides.
  if (SSL_CTX* chosen = set ? set->find(name) : nullptr; chosen && chosen != now)
    SSL_set_SSL_CTX(ssl, chosen);
  return SSL_TLSEXT_ERR_OK;
}

int alpn_cb(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
            unsigned int inlen, void*) {
  CertSet* set = set_of(SSL_get_SSL_CTX(ssl));
  if (!set || set->alpn.empty()) return SSL_TLSEXT_ERR_NOACK;
  unsigned char* chosen = nullptr;
  // Our preference first: the first of ours the client also offers.
  if (SSL_select_next_proto(&chosen, outlen, set->alpn.data(),
                            static_cast<unsigned>(set->alpn.size()), in,
                            inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_ALERT_FATAL; // no_application_protocol (RFC 7301 §3.2)
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

constexpr const char* default_ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                        "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* default_suites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

bool readable(const std::string& path, const char* what, std::string& error) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) {
    error = std::string("cannot read the ") + what + " " + path + ": " + std::strerror(errno);
    return false;
  }
  std::fclose(f);
  return true;
}

template <class T, void (*Free)(T*)> struct Owned {
  T* p = nullptr;
  ~Owned() {
    if (p) Free(p);
  }
};

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// The names a certificate serves: DNS and IP subject alternative names, else the CN.
std::set<std::string> names_of(X509* cert) {
  std::set<std::string> names;
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(sans, i);
      if (n->type == GEN_DNS) {
        const ASN1_STRING* s = n->d.dNSName;
        names.insert(lower(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                       static_cast<std::size_t>(ASN1_STRING_length(s)))));
      } else if (n->type == GEN_IPADD) {
        const ASN1_STRING* s = n->d.iPAddress;
        char text[64] = {};
        int af = ASN1_STRING_length(s) == 4 ? AF_INET : AF_INET6;
        if (::inet_ntop(af, ASN1_STRING_get0_data(s), text, sizeof text)) names.insert(text);
      }
    }
    GENERAL_NAMES_free(sans);
  }
  if (names.empty()) {
    char cn[256] = {};
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) > 0)
      names.insert(lower(cn));
  }
  return names;
}

bool configure(SSL_CTX* ctx, const TlsOptions& o, CertSet* set, std::string& error) {
  SSL_CTX_set_min_proto_version(ctx, o.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                               SSL_OP_NO_COMPRESSION | (o.session_tickets ? 0 : SSL_OP_NO_TICKET));
  // An idle connection keeps no record buffers (about 34 KiB back to the allocator).
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_read_ahead(ctx, 1);
  if (SSL_CTX_set_cipher_list(ctx, o.ciphers.empty() ? default_ciphers : o.ciphers.c_str()) != 1) {
    error = "no usable TLS 1.2 cipher in '" + o.ciphers + "': " + openssl_errors();
    return false;
  }
  if (SSL_CTX_set_ciphersuites(ctx, o.ciphersuites.empty() ? default_suites
                                                           : o.ciphersuites.c_str()) != 1) {
    error = "no usable TLS 1.3 cipher suite in '" + o.ciphersuites + "': " + openssl_errors();
    return false;
  }
  SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384");
  // Resumption is stateless (tickets): no session cache to fill or share between workers.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  static const unsigned char sid_ctx[] = "lithe";
  SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1);
  if (o.session_tickets) {
    SSL_CTX_set_num_tickets(ctx, 1);
    SSL_CTX_set_timeout(ctx, static_cast<long>(2 * o.ticket_rotation.count()));
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_key_cb);
  } else {
    SSL_CTX_set_num_tickets(ctx, 0);
  }
  SSL_CTX_set_tlsext_servername_callback(ctx, servername_cb);
  if (!o.alpn.empty()) SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, nullptr);
  if (!o.client_ca.empty()) {
    if (!readable(o.client_ca, "client CA file", error)) return false;
    if (SSL_CTX_load_verify_locations(ctx, o.client_ca.c_str(), nullptr) != 1) {
      error =
          "the client CA file " + o.client_ca + " holds no PEM certificate: " + openssl_errors();
      return false;
    }
    SSL_CTX_set_client_CA_list(ctx, SSL_load_client_CA_file(o.client_ca.c_str()));
    SSL_CTX_set_verify(
        ctx, SSL_VERIFY_PEER | (o.client_cert_required ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
        nullptr);
  }
  SSL_CTX_set_ex_data(ctx, ex_index(), set);
  return true;
}

// Loads one certificate and its key into `ctx` (new or shared with the same names).
bool load_pair(SSL_CTX* ctx, const TlsCertificate& c, std::string& error) {
  if (SSL_CTX_use_certificate_chain_file(ctx, c.cert_file.c_str()) != 1) {
    error = "the certificate file " + c.cert_file +
            " holds no usable PEM certificate chain: " + openssl_errors();
    return false;
  }
  Owned<EVP_PKEY, EVP_PKEY_free> key;
  if (FILE* f = std::fopen(c.key_file.c_str(), "r")) {
    key.p = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
    std::fclose(f);
  }
  if (!key.p) {
    error = "the key file " + c.key_file +
            " holds no PEM private key (or it is encrypted): " + openssl_errors();
    return false;
  }
  Owned<X509, X509_free> cert;
  if (FILE* f = std::fopen(c.cert_file.c_str(), "r")) {
    cert.p = PEM_read_X509(f, nullptr, nullptr, nullptr);
    std::fclose(f);
  }
  if (!cert.p || X509_check_private_key(cert.p, key.p) != 1) {
    ERR_clear_error();
    error = "the key in " + c.key_file + " does not match the certificate in " + c.cert_file;
    return false;
  }
  if (SSL_CTX_use_PrivateKey(ctx, key.p) != 1) {
    error = "the key in " + c.key_file + " cannot be used: " + openssl_errors();
    return false;
  }
  return true;
}

std::shared_ptr<const CertSet> load_set(const TlsOptions& o, TicketKeys* keys, std::string& error) {
  ERR_clear_error();
  if (o.certificates.empty()) {
    error = "TLS needs at least one certificate and key";
    return nullptr;
  }
  if (o.client_cert_required && o.client_ca.empty()) {
    error = "client certificates are required but no client CA file is given";
    return nullptr;
  }
  if (o.min_version != "1.2" && o.min_version != "1.3") {
    error = "the oldest TLS version must be 1.2 or 1.3, not '" + o.min_version + "'";
    return nullptr;
  }
  auto set = std::make_shared<CertSet>();
  set->keys = keys;
  for (const std::string& p : o.alpn) {
    if (p.empty() || p.size() > 255) {
      error = "an ALPN protocol name must be 1 to 255 bytes";
      return nullptr;
    }
    set->alpn.push_back(static_cast<unsigned char>(p.size()));
    set->alpn.insert(set->alpn.end(), p.begin(), p.end());
  }
  std::vector<std::set<std::string>> ctx_names;
  for (const TlsCertificate& c : o.certificates) {
    if (!readable(c.cert_file, "certificate file", error) ||
        !readable(c.key_file, "key file", error))
      return nullptr;
    Owned<X509, X509_free> leaf;
    if (FILE* f = std::fopen(c.cert_file.c_str(), "r")) {
      leaf.p = PEM_read_X509(f, nullptr, nullptr, nullptr);
      std::fclose(f);
    }
    if (!leaf.p) {
      error =
          "the certificate file " + c.cert_file + " holds no PEM certificate: " + openssl_errors();
      return nullptr;
    }
    std::set<std::string> names = names_of(leaf.p);
    // An RSA and an ECDSA certificate for the same names go into one context.
    SSL_CTX* ctx = nullptr;
    for (std::size_t i = 0; i < ctx_names.size(); ++i)
      if (ctx_names[i] == names) ctx = set->ctxs[i];
    if (!ctx) {
      ctx = SSL_CTX_new(TLS_server_method());
      if (!ctx) {
        error = "OpenSSL cannot make a context: " + openssl_errors();
        return nullptr;
      }
      set->ctxs.push_back(ctx);
      ctx_names.push_back(names);
      if (!configure(ctx, o, set.get(), error)) return nullptr;
      for (const std::string& n : names) {
        if (n.rfind("*.", 0) == 0)
          set->wildcard.emplace(n.substr(2), ctx); // the first certificate naming it wins
        else
          set->exact.emplace(n, ctx);
      }
    }
    if (!load_pair(ctx, c, error)) return nullptr;
  }
  return set;
}

} // namespace

CertSet::~CertSet() {
  for (SSL_CTX* c : ctxs)
    SSL_CTX_free(c);
}

SSL_CTX* CertSet::find(std::string_view host) const {
  std::string h = lower(std::string(host));
  if (auto it = exact.find(h); it != exact.end()) return it->second;
  // A wildcard covers one label (RFC 6125 §6.4.3): "a.example.com", not "a.b.example.com".
  if (auto dot = h.find('.'); dot != std::string::npos)
    if (auto it = wildcard.find(h.substr(dot + 1)); it != wildcard.end()) return it->second;
  return nullptr;
}

CertSet* set_of(SSL_CTX* ctx) noexcept {
  return static_cast<CertSet*>(SSL_CTX_get_ex_data(ctx, ex_index()));
}

} // namespace lithe::tls

namespace lithe {

struct TlsContext::State {
  TlsOptions options;
  tls::TicketKeys keys;
  mutable std::mutex mu;
  std::shared_ptr<const tls::CertSet> set; // the current generation
  std::atomic<std::uint64_t> generation{0};
};

TlsContext::TlsContext(std::unique_ptr<State> s) noexcept : s_(std::move(s)) {}
TlsContext::~TlsContext() = default;

std::shared_ptr<TlsContext> TlsContext::create(const TlsOptions& options, std::string& error) {
  auto s = std::make_unique<State>();
  s->options = options;
  s->keys.rotation = std::max(options.ticket_rotation, std::chrono::seconds(1));
  s->set = tls::load_set(options, &s->keys, error);
  if (!s->set) return nullptr;
  s->generation = 1;
  return std::shared_ptr<TlsContext>(new TlsContext(std::move(s)));
}

std::string TlsContext::reload() {
  std::string error;
  auto fresh = tls::load_set(s_->options, &s_->keys, error);
  if (!fresh) return error;
  std::lock_guard lock(s_->mu);
  s_->set = std::move(fresh);
  s_->generation.fetch_add(1, std::memory_order_release);
  return {};
}

std::uint64_t TlsContext::generation() const noexcept {
  return s_->generation.load(std::memory_order_acquire);
}

const TlsOptions& TlsContext::options() const noexcept {
  return s_->options;
}

std::string TlsContext::describe() const {
  const TlsOptions& o = s_->options;
  std::size_t n = o.certificates.size();
  std::string alpn;
  for (const std::string& p : o.alpn)
    alpn += (alpn.empty() ? "" : ",") + p;
  return "TLS " + o.min_version + "-1.3, " + std::to_string(n) +
         (n == 1 ? " certificate" : " certificates") + (alpn.empty() ? "" : ", ALPN " + alpn) +
         ", files by read+encrypt" + (kernel_tls_available() ? "" : " (no kernel TLS here)");
}

std::shared_ptr<const tls::CertSet> tls::TlsContextAccess::current(const TlsContext& c) {
  std::lock_guard lock(c.s_->mu);
  return c.s_->set;
}

std::chrono::milliseconds tls::TlsContextAccess::handshake_timeout(const TlsContext& c) {
  return c.s_->options.handshake_timeout;
}

bool kernel_tls_available() noexcept {
  static const bool available = [] {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    // ENOENT: no "tls" upper-layer protocol in this kernel (or loadable as a module); on an
    // unconnected socket a kernel that has one answers ENOTCONN instead.
    int rc = ::setsockopt(fd, SOL_TCP, TCP_ULP, "tls", 3);
    int err = errno;
    ::close(fd);
    return rc == 0 || err != ENOENT;
  }();
  return available;
}

} // namespace lithe
