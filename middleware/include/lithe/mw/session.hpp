// Sessions (Rack::Session::Cookie's job): a string map per visitor, kept in a cookie signed
// with HMAC-SHA256 and optionally encrypted with AES-256-GCM, or in a store (Redis:
// lithe/mw/redis_session.hpp) with only a signed random id in the cookie. docs/session.md.
//
//   b.use(mw::session({.secrets = {secret_from_env}}));
//   ... mw::session(env).set("user", "42");  mw::session(env).renew();  // after a login
#pragma once

#include <lithe/app.hpp>
#include <lithe/mw/cookies.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lithe::mw {

/// A visitor's session: string keys to string values. Changes mark it dirty; only a dirty
/// session is written back (an unchanged one sends no Set-Cookie).
class Session {
public:
  std::optional<std::string_view> get(std::string_view key) const noexcept;
  /// Sets `key`. False, and nothing changes, when the session would no longer fit its store
  /// (a cookie of SessionOptions::max_cookie_bytes, a store's max_bytes()).
  bool set(std::string_view key, std::string_view value);
  bool erase(std::string_view key);
  void clear();
  /// A new id for the same data (call it after a login, against session fixation).
  void renew();

  bool empty() const noexcept { return items_.empty(); }
  std::size_t size() const noexcept { return items_.size(); }
  bool dirty() const noexcept { return dirty_; }
  /// 16 random bytes (raw), made when the session is first written or renewed.
  std::string_view id() const noexcept { return id_; }
  const std::vector<std::pair<std::string, std::string>>& items() const noexcept { return items_; }
  /// Bytes the entries take serialized, and the most they may take.
  std::size_t bytes() const noexcept { return bytes_; }
  std::size_t max_bytes() const noexcept { return max_bytes_; }

  // For stores and the codec: the entries as length-prefixed bytes, and back. deserialize
  // refuses anything malformed (false; the session is then empty).
  std::string serialize() const;
  bool deserialize(std::string_view bytes);
  void set_limit(std::size_t max_bytes) noexcept { max_bytes_ = max_bytes; }
  void set_id(std::string id) { id_ = std::move(id); }
  void mark_clean() noexcept { dirty_ = false; }
  /// The id before renew() (a store deletes it), or "".
  std::string_view previous_id() const noexcept { return previous_id_; }

private:
  void ensure_id();
  std::vector<std::pair<std::string, std::string>> items_;
  std::string id_, previous_id_;
  std::size_t bytes_ = 0;
  std::size_t max_bytes_ = SIZE_MAX;
  bool dirty_ = false;
};

/// Signs (and optionally encrypts) bytes for a cookie, and opens them again: verify with each
/// secret in turn (constant-time), then decrypt. The keys for signing and for encrypting are
/// derived from each secret (HMAC-SHA256 of a label), so one secret never serves both.
class SessionCodec {
public:
  /// Throws std::invalid_argument without a secret or with one under 32 bytes.
  SessionCodec(std::span<const std::string> secrets, bool encrypt);
  ~SessionCodec();
  SessionCodec(SessionCodec&&) noexcept;
  /// base64url(version | [nonce | ] data [| GCM tag] | HMAC); a fresh 96-bit nonce each time.
  std::string seal(std::string_view data) const;
  /// The data, or nullopt for anything not sealed by one of the secrets (or not decodable).
  std::optional<std::string> open(std::string_view token) const;
  /// The token length for `data_bytes` bytes of data.
  std::size_t sealed_size(std::size_t data_bytes) const noexcept;

private:
  struct Keys;
  std::vector<Keys> keys_;
  bool encrypt_;
};

/// Where sessions live when not in the cookie. Calls come on a loop thread; each completion is
/// posted to `home` (the request's loop). A store never blocks the loop.
class SessionStore {
public:
  virtual ~SessionStore() = default;
  enum class Status : std::uint8_t { found, missing, unavailable };
  struct Loaded {
    Status status = Status::missing;
    std::string data;   // the serialized session when found
    std::string reason; // why, when unavailable
  };
  /// Loads session `id`. False when the store cannot take the request now (done not called).
  virtual bool load(std::string_view id, LoopHandle home, Function<void(Loaded)> done) = 0;
  /// Saves with a time to live; `done(error)` with "" on success. False when refused at once.
  virtual bool save(std::string_view id, std::string data, std::chrono::seconds ttl,
                    LoopHandle home, Function<void(std::string error)> done) = 0;
  /// Forgets session `id` (after renew() or clear()); nobody waits for it.
  virtual void erase(std::string_view id) = 0;
  /// The largest serialized session it keeps.
  virtual std::size_t max_bytes() const noexcept = 0;
};

struct SessionOptions {
  /// Secrets of at least 32 random bytes: the first signs, every one verifies (rotation:
  /// put the new one first, drop the old one after max_age). Required.
  std::vector<std::string> secrets;
  /// AES-256-GCM as well as the signature, so the client cannot read the session.
  bool encrypt = false;
  std::string cookie_name = "lithe.session";
  std::string path = "/";
  std::string domain;
  /// The session's life from its last write, enforced by the server from a time inside the
  /// signed data (and by the store's TTL); also the cookie's Max-Age.
  std::chrono::seconds max_age{14 * 24 * 3600};
  /// Secure: nullopt sets it when the request came over https.
  std::optional<bool> secure;
  bool http_only = true;
  SameSite same_site = SameSite::lax;
  /// The whole Set-Cookie value's bound (RFC 6265 §6.1: browsers keep at least 4096 bytes).
  std::size_t max_cookie_bytes = 4096;
  /// Null: the cookie store. Otherwise the cookie holds only the signed id.
  std::shared_ptr<SessionStore> store;
  /// The wall clock (seconds since the epoch), for tests.
  std::function<std::time_t()> clock;
};

/// The session middleware. Throws std::invalid_argument when the secrets are missing or short.
Middleware session(SessionOptions options);
/// The request's session (inside mw::session). Outside it, a session that is never saved, and
/// the first such use is logged.
Session& session(Env& env);
/// The request's session, or nullptr outside mw::session.
Session* find_session(Env& env) noexcept;

/// base64url without padding (RFC 4648 §5), and back (nullopt for anything else).
std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

} // namespace lithe::mw
