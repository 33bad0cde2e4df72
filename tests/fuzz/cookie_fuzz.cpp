// Fuzzes the Cookie header parser (RFC 6265 §5.4) and the session cookie decoder on attacker
// bytes: base64url, HMAC verification with two secrets, AES-256-GCM decryption and the
// entries' deserialization, both behind a signature (sealed here first) and directly.
#include "fuzz_input.hpp"

#include <lithe/mw/cookies.hpp>
#include <lithe/mw/session.hpp>

#include <string>
#include <vector>

namespace {

using namespace lithe;

[[noreturn]] void broken() {
  __builtin_trap();
}

const std::vector<std::string> secrets{std::string(32, 'k'), std::string(40, 'o')};
const mw::SessionCodec signer(secrets, false), sealer(secrets, true);

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::FuzzInput in(data, size);
  const std::size_t max = in.byte() % 64 + 1;
  std::string_view bytes = in.take(in.left());

  std::size_t n = 0;
  std::size_t seen = mw::for_each_cookie(bytes, max, [&](mw::Cookie c) {
    if (c.name.empty() || c.name.data() < bytes.data() ||
        c.value.data() + c.value.size() > bytes.data() + bytes.size())
      broken(); // views stay inside the header
    ++n;
    return true;
  });
  if (seen > max || n > seen) broken();

  // Attacker bytes as a cookie: nothing opens unless sealed by us.
  if (signer.open(bytes) || sealer.open(bytes)) broken();
  mw::Session s;
  if (s.deserialize(bytes)) {
    if (s.serialize() != bytes) broken(); // a canonical form: what parses writes back the same
  } else if (!s.empty()) {
    broken();
  }
  // The same bytes sealed: they open again, whole, and every flipped byte is refused.
  for (const mw::SessionCodec* c : {&signer, &sealer}) {
    std::string token = c->seal(bytes);
    if (c->open(token) != std::string(bytes)) broken();
    if (!token.empty()) {
      token[token.size() / 2] = token[token.size() / 2] == 'A' ? 'B' : 'A';
      if (c->open(token)) broken();
    }
  }
  return 0;
}
