// Sessions: the map and its serialization, the cookie codec (HMAC-SHA256 over everything,
// AES-256-GCM inside when asked), and the middleware for the cookie store and for async stores.
// A cookie that does not verify, decrypt, parse or has expired is an empty session.
#include <lithe/mw/session.hpp>

#include <lithe/log.hpp>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <atomic>
#include <cstring>
#include <stdexcept>

namespace lithe::mw {

namespace {

constexpr std::size_t id_bytes = 16, mac_bytes = 32, nonce_bytes = 12, tag_bytes = 16;
constexpr unsigned char signed_version = 1, encrypted_version = 2;
constexpr std::string_view env_key = "session";

void put_u32(std::string& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8)
    out.push_back(static_cast<char>((v >> s) & 0xFF));
}
std::uint64_t get_be(std::string_view s) {
  std::uint64_t v = 0;
  for (char c : s)
    v = (v << 8) | static_cast<unsigned char>(c);
  return v;
}

std::string random_bytes(std::size_t n) {
  std::string s(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(s.data()), static_cast<int>(n)) != 1)
    throw std::runtime_error("RAND_bytes failed");
  return s;
}

std::array<unsigned char, 32> hmac(std::string_view key, std::string_view data) {
  std::array<unsigned char, 32> out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len);
  return out;
}

constexpr char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

} // namespace

std::string base64url_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() * 4 + 2) / 3);
  std::size_t i = 0;
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(in[k]); };
  for (; i + 3 <= in.size(); i += 3) {
    std::uint32_t v = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
    for (int s = 18; s >= 0; s -= 6)
      out.push_back(b64_alphabet[(v >> s) & 63]);
  }
  if (std::size_t rest = in.size() - i; rest) {
    std::uint32_t v = at(i) << 16;
    if (rest == 2) v |= at(i + 1) << 8;
    out.push_back(b64_alphabet[(v >> 18) & 63]);
    out.push_back(b64_alphabet[(v >> 12) & 63]);
    if (rest == 2) out.push_back(b64_alphabet[(v >> 6) & 63]);
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view in) {
  if (in.size() % 4 == 1) return std::nullopt;
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
  };
  std::string out;
  out.reserve(in.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = val(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  if (acc & ((1u << bits) - 1)) return std::nullopt; // non-canonical trailing bits
  return out;
}

// --- Session

std::optional<std::string_view> Session::get(std::string_view key) const noexcept {
  for (const auto& [k, v] : items_)
    if (k == key) return std::string_view(v);
  return std::nullopt;
}

bool Session::set(std::string_view key, std::string_view value) {
  for (auto& [k, v] : items_) {
    if (k != key) continue;
    if (v == value) return true; // unchanged: not dirty
    if (bytes_ - v.size() + value.size() > max_bytes_) return false;
    bytes_ = bytes_ - v.size() + value.size();
    v.assign(value);
    dirty_ = true;
    return true;
  }
  std::size_t add = 8 + key.size() + value.size();
  if (add > max_bytes_ || bytes_ > max_bytes_ - add) return false;
  items_.emplace_back(std::string(key), std::string(value));
  bytes_ += add;
  dirty_ = true;
  ensure_id();
  return true;
}

bool Session::erase(std::string_view key) {
  for (auto it = items_.begin(); it != items_.end(); ++it) {
    if (it->first != key) continue;
    bytes_ -= 8 + it->first.size() + it->second.size();
    items_.erase(it);
    dirty_ = true;
    return true;
  }
  return false;
}

void Session::clear() {
  if (items_.empty()) return;
  items_.clear();
  bytes_ = 0;
  dirty_ = true;
}

void Session::renew() {
  if (!id_.empty() && previous_id_.empty()) previous_id_ = id_;
  id_ = random_bytes(id_bytes);
  dirty_ = true;
}

void Session::ensure_id() {
  if (id_.empty()) id_ = random_bytes(id_bytes);
}

std::string Session::serialize() const {
  std::string out;
  out.reserve(bytes_);
  for (const auto& [k, v] : items_) {
    put_u32(out, static_cast<std::uint32_t>(k.size()));
    out.append(k);
    put_u32(out, static_cast<std::uint32_t>(v.size()));
    out.append(v);
  }
  return out;
}

bool Session::deserialize(std::string_view in) {
  items_.clear();
  bytes_ = 0;
  auto take = [&in](std::string_view& field) {
    if (in.size() < 4) return false;
    std::uint64_t n = get_be(in.substr(0, 4));
    if (n > in.size() - 4) return false;
    field = in.substr(4, n);
    in.remove_prefix(4 + n);
    return true;
  };
  while (!in.empty()) {
    std::string_view k, v;
    if (!take(k) || !take(v) || get(k)) {
      items_.clear();
      bytes_ = 0;
      return false;
    }
    items_.emplace_back(std::string(k), std::string(v));
    bytes_ += 8 + k.size() + v.size();
  }
  return true;
}

// --- SessionCodec

namespace {

struct MacCtxFree {
  void operator()(EVP_MAC_CTX* c) const noexcept { EVP_MAC_CTX_free(c); }
};
using MacCtx = std::unique_ptr<EVP_MAC_CTX, MacCtxFree>;

/// An HMAC-SHA256 context keyed once; each use works on a copy (OpenSSL 3 looks the digest up
/// on every one-shot HMAC(), which costs more than hashing a cookie).
MacCtx keyed_hmac(const std::array<unsigned char, 32>& key) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  MacCtx c(mac ? EVP_MAC_CTX_new(mac) : nullptr);
  EVP_MAC_free(mac);
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (!c || EVP_MAC_init(c.get(), key.data(), key.size(), params) != 1)
    throw std::runtime_error("HMAC-SHA256 is not available");
  return c;
}

std::array<unsigned char, 32> hmac(const MacCtx& keyed, std::string_view data) {
  std::array<unsigned char, 32> out{};
  MacCtx c(EVP_MAC_CTX_dup(keyed.get()));
  std::size_t len = 0;
  if (!c ||
      EVP_MAC_update(c.get(), reinterpret_cast<const unsigned char*>(data.data()), data.size()) !=
          1 ||
      EVP_MAC_final(c.get(), out.data(), &len, out.size()) != 1)
    throw std::runtime_error("HMAC-SHA256 failed");
  return out;
}

} // namespace

struct SessionCodec::Keys {
  std::array<unsigned char, 32> enc;
  MacCtx mac;
};

SessionCodec::SessionCodec(std::span<const std::string> secrets, bool encrypt) : encrypt_(encrypt) {
  if (secrets.empty()) throw std::invalid_argument("mw::session: at least one secret is needed");
  for (const std::string& s : secrets) {
    if (s.size() < 32)
      throw std::invalid_argument("mw::session: a secret must hold at least 32 bytes");
    keys_.push_back(
        Keys{hmac(s, "lithe.session encrypt"), keyed_hmac(hmac(s, "lithe.session sign"))});
  }
}
SessionCodec::~SessionCodec() {
  for (Keys& k : keys_)
    OPENSSL_cleanse(k.enc.data(), k.enc.size());
}
SessionCodec::SessionCodec(SessionCodec&&) noexcept = default;

std::size_t SessionCodec::sealed_size(std::size_t n) const noexcept {
  std::size_t raw = 1 + n + mac_bytes + (encrypt_ ? nonce_bytes + tag_bytes : 0);
  return (raw * 4 + 2) / 3;
}

std::string SessionCodec::seal(std::string_view data) const {
  const Keys& k = keys_.front();
  std::string raw;
  raw.reserve(1 + data.size() + mac_bytes + nonce_bytes + tag_bytes);
  if (!encrypt_) {
    raw.push_back(static_cast<char>(signed_version));
    raw.append(data);
  } else {
    raw.push_back(static_cast<char>(encrypted_version));
    raw.append(random_bytes(nonce_bytes));
    std::size_t at = raw.size();
    raw.resize(at + data.size() + tag_bytes);
    auto* out = reinterpret_cast<unsigned char*>(raw.data());
    EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
    int len = 0;
    bool ok =
        c && EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), nullptr, k.enc.data(), out + 1) == 1 &&
        EVP_EncryptUpdate(c, nullptr, &len, out, 1) == 1 && // AAD: the version
        EVP_EncryptUpdate(c, out + at, &len, reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size())) == 1 &&
        EVP_EncryptFinal_ex(c, out + at + len, &len) == 1 &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, tag_bytes, out + at + data.size()) == 1;
    EVP_CIPHER_CTX_free(c);
    if (!ok) throw std::runtime_error("AES-256-GCM encryption failed");
  }
  auto mac = hmac(k.mac, raw);
  raw.append(reinterpret_cast<const char*>(mac.data()), mac.size());
  return base64url_encode(raw);
}

std::optional<std::string> SessionCodec::open(std::string_view token) const {
  if (token.size() > 8192) return std::nullopt;
  auto raw = base64url_decode(token);
  if (!raw || raw->size() < 1 + mac_bytes) return std::nullopt;
  std::string_view body(raw->data(), raw->size() - mac_bytes);
  const auto* given = reinterpret_cast<const unsigned char*>(raw->data() + body.size());
  const Keys* key = nullptr;
  for (const Keys& k : keys_) {
    auto mac = hmac(k.mac, body);
    if (CRYPTO_memcmp(mac.data(), given, mac_bytes) == 0) {
      key = &k;
      break;
    }
  }
  if (!key) return std::nullopt;
  const auto version = static_cast<unsigned char>(body[0]);
  if (version == signed_version && !encrypt_) return std::string(body.substr(1));
  if (version != encrypted_version || !encrypt_ || body.size() < 1 + nonce_bytes + tag_bytes)
    return std::nullopt;
  const auto* in = reinterpret_cast<const unsigned char*>(body.data());
  const std::size_t n = body.size() - 1 - nonce_bytes - tag_bytes;
  std::string out(n, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  int len = 0;
  unsigned char tag[tag_bytes];
  std::memcpy(tag, in + 1 + nonce_bytes + n, tag_bytes);
  bool ok = c && EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), nullptr, key->enc.data(), in + 1) == 1 &&
            EVP_DecryptUpdate(c, nullptr, &len, in, 1) == 1 &&
            EVP_DecryptUpdate(c, o, &len, in + 1 + nonce_bytes, static_cast<int>(n)) == 1 &&
            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, tag_bytes, tag) == 1 &&
            EVP_DecryptFinal_ex(c, o + len, &len) == 1;
  EVP_CIPHER_CTX_free(c);
  if (!ok) return std::nullopt;
  return out;
}

// --- The middleware

namespace {

struct SessionMw {
  SessionOptions opt;
  SessionCodec codec;
  std::size_t cookie_attr_bytes = 0; // "name=" and the attributes, Secure included
  std::size_t cookie_limit = 0;      // what the entries may take in a cookie store

  explicit SessionMw(SessionOptions o)
      : opt(std::move(o)), codec(opt.secrets, opt.encrypt && !opt.store) {
    if (!opt.clock) opt.clock = [] { return std::time(nullptr); };
    std::string probe;
    if (CookieError e = format_set_cookie(cookie("", true), probe); e != CookieError::none)
      throw std::invalid_argument("mw::session: " + std::string(to_string(e)));
    cookie_attr_bytes = probe.size();
    // Entries fit when time (8), id (16) and they, sealed, fit beside the attributes.
    std::size_t room =
        opt.max_cookie_bytes > cookie_attr_bytes ? opt.max_cookie_bytes - cookie_attr_bytes : 0;
    std::size_t data = 0;
    while (codec.sealed_size(data + 1 + 24) <= room)
      data += 1; // a few thousand steps, once
    cookie_limit = data;
  }

  SetCookie cookie(std::string value, bool secure) const {
    return {.name = opt.cookie_name,
            .value = std::move(value),
            .path = opt.path,
            .domain = opt.domain,
            .max_age = opt.max_age.count(),
            .secure = secure,
            .http_only = opt.http_only,
            .same_site = opt.same_site};
  }
  bool secure(const Env& env) const { return opt.secure.value_or(env.url_scheme() == "https"); }

  // The cookie store: time | id | entries.
  void load_cookie(Session& s, std::string_view token) const {
    auto data = codec.open(token);
    if (!data || data->size() < 8 + id_bytes) return;
    std::int64_t issued = static_cast<std::int64_t>(get_be(std::string_view(*data).substr(0, 8)));
    std::int64_t now = opt.clock();
    if (issued > now + 60 || now - issued > opt.max_age.count()) return; // expired
    if (!s.deserialize(std::string_view(*data).substr(8 + id_bytes))) return;
    s.set_id(data->substr(8, id_bytes));
  }

  std::string cookie_data(const Session& s) const {
    std::string out;
    std::uint64_t now = static_cast<std::uint64_t>(opt.clock());
    for (int sh = 56; sh >= 0; sh -= 8)
      out.push_back(static_cast<char>((now >> sh) & 0xFF));
    out.append(s.id());
    out.append(s.serialize());
    return out;
  }

  Response fail(Env& env, int status, std::string reason) const {
    env.error("mw::session: " + reason);
    return {status, {{"Content-Type", "text/plain"}}, reason + "\n"};
  }

  /// Writes the session back into the response (the cookie store).
  Response commit_cookie(Env& env, Response r, bool had_cookie) const {
    Session* s = env.get<Session>(env_key);
    if (!s || !s->dirty()) return r;
    if (s->empty()) {
      if (had_cookie) delete_cookie(r.headers, opt.cookie_name, opt.path, opt.domain);
      return r;
    }
    if (s->id().empty()) s->renew();
    CookieError e = add_cookie(r.headers, cookie(codec.seal(cookie_data(*s)), secure(env)));
    if (e != CookieError::none)
      return fail(env, 500, "the session cookie: " + std::string(to_string(e)));
    return r;
  }

  Response call_cookie(const App& next, Env& env) const {
    Session& s = env.emplace<Session>(env_key);
    s.set_limit(cookie_limit);
    auto token = mw::cookie(env, opt.cookie_name);
    if (token) load_cookie(s, *token);
    const bool had = token.has_value();
    return env.then(
        next(env), [this, had](Env& e, Response r) { return commit_cookie(e, std::move(r), had); });
  }

  // A store: the cookie holds the signed id.
  Response call_store(const App& next, Env& env) const;
  Response run_inner(const App& next, Env& env, AsyncCallback* cb, bool had) const;
  void save_then(Env& env, Response r, AsyncCallback cb) const;
  Response commit_store(Env& env, Response r, bool had, AsyncCallback* cb) const;
};

Response SessionMw::call_store(const App& next, Env& env) const {
  Session& s = env.emplace<Session>(env_key);
  s.set_limit(opt.store->max_bytes());
  auto token = mw::cookie(env, opt.cookie_name);
  std::optional<std::string> id;
  if (token) id = codec.open(*token);
  if (!id || id->size() != id_bytes) return run_inner(next, env, nullptr, token.has_value());
  AsyncCallback cb = env.async_callback();
  Env* ep = &env;
  bool queued = opt.store->load(
      *id, env.loop().handle(), [this, &next, ep, cb, id = *id](SessionStore::Loaded got) mutable {
        if (!cb.pending()) return; // the client left meanwhile
        Env& e = *ep;
        if (got.status == SessionStore::Status::unavailable) {
          cb(fail(e, 503, "the session store is unavailable: " + got.reason));
          return;
        }
        Session* s = e.get<Session>(env_key);
        if (got.status == SessionStore::Status::found && s->deserialize(got.data)) s->set_id(id);
        Response r = run_inner(next, e, &cb, true);
        if (!r.is_async()) cb(std::move(r));
      });
  if (!queued) return fail(env, 503, "the session store is unavailable: its queue is full");
  return async;
}

/// Calls the app and writes the session back; with `cb` (or when it must wait for a save) the
/// answer goes through the callback and this returns the sentinel.
Response SessionMw::run_inner(const App& next, Env& env, AsyncCallback* cb, bool had) const {
  Response r;
  try {
    r = next(env);
  } catch (const std::exception& ex) {
    env.error(std::string("an exception in the app: ") + ex.what());
    r = internal_server_error();
  } catch (...) {
    env.error("an exception in the app");
    r = internal_server_error();
  }
  if (r.is_async())
    return env.then(std::move(r), [this, had](Env& e, Response late) {
      return commit_store(e, std::move(late), had, nullptr);
    });
  AsyncCallback own;
  if (!cb) {
    Session* s = env.get<Session>(env_key);
    if (!s || !s->dirty() || s->empty()) return commit_store(env, std::move(r), had, nullptr);
    own = env.async_callback();
    cb = &own;
  }
  Response done = commit_store(env, std::move(r), had, cb);
  if (done.is_async() && !own) return async; // the save answers through *cb
  return done; // the sentinel when `own` will answer, or an answer of its own
}

/// Writes the session: Set-Cookie for a new id, the data to the store. With `cb` the response
/// waits for the store's answer (returned as the sentinel); without it the save is queued and
/// the response goes at once.
Response SessionMw::commit_store(Env& env, Response r, bool had, AsyncCallback* cb) const {
  Session* s = env.get<Session>(env_key);
  if (!s || !s->dirty()) return r;
  if (!s->previous_id().empty()) opt.store->erase(s->previous_id());
  if (s->empty()) {
    if (!s->id().empty()) opt.store->erase(s->id());
    if (had) delete_cookie(r.headers, opt.cookie_name, opt.path, opt.domain);
    return r;
  }
  if (s->id().empty()) s->renew();
  CookieError e = add_cookie(r.headers, cookie(codec.seal(s->id()), secure(env)));
  if (e != CookieError::none)
    return fail(env, 500, "the session cookie: " + std::string(to_string(e)));
  s->mark_clean();
  if (!cb) {
    bool ok = opt.store->save(s->id(), s->serialize(), opt.max_age, env.loop().handle(),
                              [](std::string err) {
                                if (!err.empty()) log_error("mw::session: a save failed: " + err);
                              });
    if (!ok) log_error("mw::session: a save was refused: the store's queue is full");
    return r;
  }
  Env* ep = &env;
  auto held = std::make_shared<Response>(std::move(r));
  bool ok = opt.store->save(s->id(), s->serialize(), opt.max_age, env.loop().handle(),
                            [this, ep, cb = *cb, held](std::string err) mutable {
                              if (!cb.pending()) return;
                              if (err.empty())
                                cb(std::move(*held));
                              else
                                cb(fail(*ep, 503, "the session store is unavailable: " + err));
                            });
  if (!ok) return fail(env, 503, "the session store is unavailable: its queue is full");
  return async;
}

std::atomic<bool> outside_reported{false};

} // namespace

Middleware session(SessionOptions options) {
  auto mw = std::make_shared<SessionMw>(std::move(options));
  return [mw](App next) -> App {
    return [mw, next = std::move(next)](Env& env) -> Response {
      return mw->opt.store ? mw->call_store(next, env) : mw->call_cookie(next, env);
    };
  };
}

Session* find_session(Env& env) noexcept {
  return env.get<Session>(env_key);
}

Session& session(Env& env) {
  if (Session* s = env.get<Session>(env_key)) return *s;
  if (Session* s = env.get<Session>("session.detached")) return *s;
  if (!outside_reported.exchange(true))
    env.error("mw::session(env) was used outside mw::session: nothing will be saved");
  return env.emplace<Session>("session.detached");
}

} // namespace lithe::mw
