// CSRF protection (rack-protection's AuthenticityToken): a random token per session, handed to
// forms masked with a fresh one-time pad on each call (so a compressed page never repeats it:
// BREACH), and checked on unsafe methods from the X-CSRF-Token header or the form's
// authenticity_token field. Runs inside mw::session. docs/csrf.md.
#pragma once

#include <lithe/app.hpp>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace lithe::mw {

struct CsrfOptions {
  /// Requests whose PATH_INFO starts with one of these are not checked ("/api/" for a JSON API
  /// authenticated by a header).
  std::vector<std::string> skip_paths;
  /// Methods that are not checked besides the safe ones (GET, HEAD, OPTIONS, TRACE).
  std::vector<std::string> skip_methods;
  /// Any other reason not to check a request.
  std::function<bool(const Env&)> skip;
  std::string header = "X-CSRF-Token";
  std::string field = "authenticity_token";
  /// The most of a urlencoded body read to find the field (a streamed body is gathered up to
  /// this; a larger one is refused with 413).
  std::size_t max_form_bytes = 64 * 1024;
};

/// Refuses unsafe requests (POST, PUT, PATCH, DELETE, ...) without a valid token: 403 and a
/// line saying why.
Middleware csrf(CsrfOptions options = {});

/// The session's token, masked afresh (base64url, 86 characters), for a form field or a meta
/// tag. Makes the token on first use. "" outside mw::session or when the session is full.
std::string csrf_token(Env& env);

/// Whether `given` (masked or not) is the session's token, in constant time.
bool csrf_valid(Env& env, std::string_view given);

} // namespace lithe::mw
