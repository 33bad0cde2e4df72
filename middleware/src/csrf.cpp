// CSRF tokens: 32 random bytes kept in the session (base64url under "_csrf_token"); a masked
// token is pad | (pad XOR token), so each page carries different bytes for the same secret.
// Unsafe requests are checked before the app runs; a form body still streaming is gathered
// first (bounded), so the app still finds it in env.body().
#include <lithe/mw/csrf.hpp>
#include <lithe/mw/session.hpp>

#include <lithe/str.hpp>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <memory>

namespace lithe::mw {

namespace {

constexpr std::size_t token_bytes = 32;
constexpr std::string_view session_key = "_csrf_token";

std::optional<std::string> raw_token(Session& s) {
  auto t = s.get(session_key);
  if (!t) return std::nullopt;
  auto raw = base64url_decode(*t);
  if (!raw || raw->size() != token_bytes) return std::nullopt;
  return raw;
}

bool safe_method(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "TRACE";
}

bool is_form(std::string_view type) {
  std::string_view t = trim_ows(type.substr(0, type.find(';')));
  return iequals(t, "application/x-www-form-urlencoded");
}

/// The first value of `field` in a urlencoded body, decoded.
std::optional<std::string> form_field(std::string_view body, std::string_view field) {
  while (!body.empty()) {
    std::size_t amp = body.find('&');
    std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    std::size_t eq = pair.find('=');
    std::string_view k = pair.substr(0, eq);
    if (k.size() > field.size() * 3) continue; // cannot decode to the field's name
    if (percent_decode(k, true) != field) continue;
    return percent_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), true);
  }
  return std::nullopt;
}

Response refuse(Env& env, int status, std::string_view why) {
  env.error(std::string("mw::csrf: ") + std::string(why));
  return {status, {{"Content-Type", "text/plain"}}, std::string(why) + "\n"};
}

struct CsrfMw {
  CsrfOptions opt;

  bool skipped(const Env& env) const {
    if (safe_method(env.method())) return true;
    for (const std::string& m : opt.skip_methods)
      if (env.method() == m) return true;
    for (const std::string& p : opt.skip_paths)
      if (env.path().starts_with(p)) return true;
    return opt.skip && opt.skip(env);
  }

  /// Checks the header, else the form field in env.body(); the answer to refuse with, if any.
  std::optional<Response> check(Env& env) const {
    if (!find_session(env))
      return refuse(env, 403, "Forbidden: CSRF protection needs a session (mw::session)");
    if (auto h = env.header(opt.header))
      return csrf_valid(env, trim_ows(*h))
                 ? std::nullopt
                 : std::optional<Response>(refuse(env, 403, "Forbidden: invalid CSRF token"));
    if (is_form(env.content_type()))
      if (auto f = form_field(env.body(), opt.field))
        return csrf_valid(env, *f)
                   ? std::nullopt
                   : std::optional<Response>(refuse(env, 403, "Forbidden: invalid CSRF token"));
    return refuse(env, 403, "Forbidden: missing CSRF token");
  }

  Response call(const App& next, Env& env) const {
    if (skipped(env)) return next(env);
    Input& in = env.input();
    const bool need_body = !env.header(opt.header) && is_form(env.content_type());
    if (!need_body || !in.streaming() || in.ended()) {
      if (need_body && env.body().size() > opt.max_form_bytes)
        return refuse(env, 413, "Payload Too Large: the form is over the CSRF check's limit");
      if (auto no = check(env)) return std::move(*no);
      return next(env);
    }
    if (in.length() && *in.length() > opt.max_form_bytes)
      return refuse(env, 413, "Payload Too Large: the form is over the CSRF check's limit");
    AsyncCallback cb = env.async_callback();
    in.read_all(opt.max_form_bytes, [this, &next, &env, cb](InputError e) {
      if (e == InputError::too_large) {
        cb(refuse(env, 413, "Payload Too Large: the form is over the CSRF check's limit"));
        return;
      }
      if (e != InputError::none) return; // the client left or stalled: the engine answered
      if (auto no = check(env)) {
        cb(std::move(*no));
        return;
      }
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
      if (!r.is_async()) cb(std::move(r));
    });
    return async;
  }
};

} // namespace

Middleware csrf(CsrfOptions options) {
  auto mw = std::make_shared<CsrfMw>(CsrfMw{std::move(options)});
  return [mw](App next) -> App {
    return [mw, next = std::move(next)](Env& env) { return mw->call(next, env); };
  };
}

std::string csrf_token(Env& env) {
  Session* s = find_session(env);
  if (!s) return {};
  auto raw = raw_token(*s);
  if (!raw) {
    std::string fresh(token_bytes, '\0');
    RAND_bytes(reinterpret_cast<unsigned char*>(fresh.data()), token_bytes);
    if (!s->set(session_key, base64url_encode(fresh))) return {};
    raw = std::move(fresh);
  }
  std::string masked(2 * token_bytes, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(masked.data()), token_bytes);
  for (std::size_t i = 0; i < token_bytes; ++i)
    masked[token_bytes + i] = static_cast<char>(masked[i] ^ (*raw)[i]);
  return base64url_encode(masked);
}

bool csrf_valid(Env& env, std::string_view given) {
  Session* s = find_session(env);
  if (!s || given.size() > 128) return false;
  auto raw = raw_token(*s);
  auto got = base64url_decode(given);
  if (!raw || !got) return false;
  if (got->size() == 2 * token_bytes) {
    for (std::size_t i = 0; i < token_bytes; ++i)
      (*got)[i] = static_cast<char>((*got)[i] ^ (*got)[token_bytes + i]);
    got->resize(token_bytes);
  }
  return got->size() == token_bytes && CRYPTO_memcmp(got->data(), raw->data(), token_bytes) == 0;
}

} // namespace lithe::mw
