// BasicAuth: HTTP Basic authentication (RFC 7617; Rack::Auth::Basic; docs/basic_auth.md).
// Requests without valid credentials get 401 with a challenge; the user who passed is in
// mw::remote_user(env) (REMOTE_USER) for the app.
#pragma once

#include <lithe/app.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lithe::mw {

struct BasicAuthOptions {
  /// Shown by the browser's prompt; quotes and backslashes are escaped.
  std::string realm = "Restricted";
  /// Decides a user and password; called on the loop, so it must not block. When it is set,
  /// `users` is not used.
  std::function<bool(std::string_view user, std::string_view password)> check;
  /// A fixed list of {user, password}, compared in constant time (SHA-256 of each, then
  /// CRYPTO_memcmp over every entry): neither which part differed nor their lengths leak.
  std::vector<std::pair<std::string, std::string>> users;
  /// A longer Authorization header is refused (400) before it is decoded.
  std::size_t max_header_bytes = 4096;
};

/// Throws std::invalid_argument at construction without `check` or `users`.
Middleware basic_auth(BasicAuthOptions options);

/// The user that basic_auth let through ("" when none).
std::string_view remote_user(const Env& env);

/// What an Authorization header holds, for the middleware and its fuzz target.
enum class BasicParse : std::uint8_t {
  ok,
  not_basic,  // another scheme, or no credentials at all: 401 and the challenge
  too_large,  // past max_header_bytes: 400
  bad_base64, // not RFC 4648 base64 (padding included): 400
  no_colon,   // the decoded text has no ':' between user and password: 400
  control,    // a control character in the user or password (RFC 7617 §2): 400
};
std::string_view to_string(BasicParse p) noexcept;

struct BasicCredentials {
  std::string user;
  std::string password;
};
BasicParse parse_basic(std::string_view authorization, BasicCredentials& out,
                       std::size_t max_header_bytes = 4096);

} // namespace lithe::mw
