// Test support: certificates for HTTPS tests, made by scripts/dev-cert once per test process
// in a temporary directory (removed at exit): one CA, and under it an ECDSA and an RSA
// certificate for localhost, 127.0.0.1, ::1 and a.test, and another pair for b.test (SNI).
#pragma once

#include <string>

namespace lithe::test {

struct DevCerts {
  std::string dir;
  std::string ca; // what clients trust
  std::string cert, key;
  std::string rsa_cert, rsa_key;
};

/// CN a.test; names localhost, 127.0.0.1, ::1, a.test. Throws if dev-cert fails.
const DevCerts& dev_certs();
/// CN b.test, from the same CA; names localhost, 127.0.0.1, ::1, b.test.
const DevCerts& other_dev_certs();
/// A new empty directory under the same temporary one (removed with it).
std::string scratch_dir();

} // namespace lithe::test
