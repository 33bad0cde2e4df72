// Fuzzes what comes after a real TLS handshake: an in-memory OpenSSL client completes one
// (TLS 1.2 or 1.3, by input bit) with lithe::tls_service over the HTTP engine, then the input
// is a list of steps: plaintext the client encrypts into records (requests, pipelined, cut
// anywhere), raw bytes spliced into the record stream (forged, truncated or huge records),
// key updates, renegotiation attempts, close_notify, the engine pausing and resuming, and
// time passing. The engine is reached through TLS; the checks are tls_harness.hpp's.
#include "fuzz_input.hpp"
#include "tls_harness.hpp"

#include <openssl/err.h>

namespace {

using namespace lithe;

// An OpenSSL client whose ciphertext goes through two memory BIOs.
struct Client {
  SSL* ssl = nullptr;
  BIO* from_server = BIO_new(BIO_s_mem());
  BIO* to_server = BIO_new(BIO_s_mem());
  bool read_replies = true;
  std::string pending; // ciphertext the server is not reading yet (paused)

  explicit Client(bool tls12) {
    static SSL_CTX* ctx[2] = {nullptr, nullptr};
    SSL_CTX*& c = ctx[tls12];
    if (!c) {
      c = SSL_CTX_new(TLS_client_method());
      SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
      SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
      if (tls12) SSL_CTX_set_max_proto_version(c, TLS1_2_VERSION);
    }
    ssl = SSL_new(c);
    SSL_set_bio(ssl, from_server, to_server);
    SSL_set_tlsext_host_name(ssl, "localhost");
    SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>("\x08http/1.1"), 9);
    SSL_set_connect_state(ssl);
  }
  ~Client() { SSL_free(ssl); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  std::string take_ciphertext() {
    std::string s;
    char buf[16384];
    int n;
    while ((n = BIO_read(to_server, buf, sizeof buf)) > 0)
      s.append(buf, static_cast<std::size_t>(n));
    return s;
  }
};

// Moves bytes both ways until neither side has anything new (bounded).
void pump(fuzz::TlsHarness& h, Client& c, std::size_t& seen) {
  fuzz::FakeTransport& t = h.transport();
  for (int round = 0; round < 16; ++round) {
    if (!SSL_is_init_finished(c.ssl)) SSL_do_handshake(c.ssl);
    c.pending += c.take_ciphertext();
    bool moved = false;
    if (!c.pending.empty() && h.read(c.pending)) {
      c.pending.clear();
      moved = true;
    }
    if (t.output().size() > seen) {
      std::string_view fresh = std::string_view(t.output()).substr(seen);
      BIO_write(c.from_server, fresh.data(), static_cast<int>(fresh.size()));
      seen = t.output().size();
      moved = true;
    }
    char buf[16384];
    while (c.read_replies && SSL_read(c.ssl, buf, sizeof buf) > 0)
      moved = true;
    ERR_clear_error();
    if (!moved) return;
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::FuzzInput in(data, size);
  std::uint8_t flags = in.byte();
  std::uint8_t cap_byte = in.byte();
  std::size_t cap = (flags & 0x20) ? 1 + cap_byte * 64u : 0;
  auto ending = static_cast<fuzz::Ending>((flags >> 3) & 3);

  fuzz::TlsHarness h(cap, flags & 0x40);
  Client c(flags & 1);
  c.read_replies = true;
  std::size_t seen = 0;
  pump(h, c, seen);
  if (!SSL_is_init_finished(c.ssl)) __builtin_trap(); // the handshake itself must work
  // A client that stops reading: with a write cap, the layer's background write stays in
  // flight and backpressure reaches the engine.
  auto reading = [&](bool on) {
    c.read_replies = on;
    h.hold_writes(!on);
  };
  reading(!(flags & 2));

  for (int step = 0; step < 32 && in.left() > 0 && h.transport().open(); ++step) {
    std::uint8_t op = in.byte();
    std::string_view bytes = in.take(in.u16() % 4096);
    switch (op & 7) {
    case 0: // plaintext, as records of the input's sizes
    case 1:
      if (!bytes.empty()) SSL_write(c.ssl, bytes.data(), static_cast<int>(bytes.size()));
      break;
    case 2: // raw bytes into the record stream, after what the client sent so far
      c.pending += c.take_ciphertext();
      c.pending.append(bytes);
      break;
    case 3:
      h.pause(op & 8);
      break;
    case 4:
      h.advance(Millis(100 * (op >> 3)));
      break;
    case 5:
      SSL_shutdown(c.ssl); // close_notify
      break;
    case 6:
      if (SSL_version(c.ssl) == TLS1_3_VERSION)
        SSL_key_update(c.ssl, (op & 8) ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED);
      else
        SSL_renegotiate(c.ssl), SSL_do_handshake(c.ssl);
      break;
    case 7:
      reading(!c.read_replies);
      break;
    }
    ERR_clear_error();
    pump(h, c, seen);
  }
  h.pause(false);
  h.finish(ending);
  return 0;
}
