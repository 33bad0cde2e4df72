// A self-signed ECDSA P-256 certificate for localhost and 127.0.0.1, made with OpenSSL's API
// and written as PEM files: what the in-process TLS tests and fuzz targets give TlsContext
// (which reads files). The integration tests use scripts/dev-cert instead.
#pragma once

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <string>

namespace lithe::test {

/// Writes the certificate to `cert_path` and its key to `key_path`; false if a file could not
/// be written.
inline bool write_self_signed_cert(const std::string& cert_path, const std::string& key_path) {
  EVP_PKEY* pkey = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24 * 365);
  X509_set_pubkey(x, pkey);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
  X509_EXTENSION* san =
      X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
  X509_add_ext(x, san, -1);
  X509_EXTENSION_free(san);
  X509_sign(x, pkey, EVP_sha256());
  bool ok = false;
  if (FILE* f = std::fopen(cert_path.c_str(), "w")) {
    ok = PEM_write_X509(f, x) == 1;
    std::fclose(f);
  }
  if (FILE* f = std::fopen(key_path.c_str(), "w")) {
    ok = ok && PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr) == 1;
    std::fclose(f);
  } else {
    ok = false;
  }
  X509_free(x);
  EVP_PKEY_free(pkey);
  return ok;
}

} // namespace lithe::test
