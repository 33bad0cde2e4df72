// Cors: the Fetch standard's CORS protocol (rack-cors's job; docs/cors.md). Preflights
// (OPTIONS with Access-Control-Request-Method) from allowed origins are answered 204 without the
// app; actual requests from them get Access-Control-Allow-Origin on the way out, late responses
// too. A refused origin never gets Access-Control-Allow-Origin. Every response says Vary: Origin.
#pragma once

#include <lithe/app.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace lithe::mw {

struct CorsOptions {
  /// Exact origins ("https://app.example.com"), patterns with one leading wildcard label
  /// ("https://*.example.com": one or more labels before .example.com), or "*" (any origin,
  /// never with credentials).
  std::vector<std::string> origins;
  std::vector<std::string> methods = {"GET", "HEAD", "POST"};
  /// Request headers a preflight may ask for; {"*"} allows whatever it asks (echoed back).
  std::vector<std::string> headers = {};
  /// Response headers the page's script may read (Access-Control-Expose-Headers).
  std::vector<std::string> expose = {};
  /// Cookies and HTTP auth on cross-origin requests (Access-Control-Allow-Credentials: true).
  bool credentials = false;
  /// How long a browser may cache a preflight, in seconds (Access-Control-Max-Age); < 0: not
  /// sent.
  long max_age = 7200;
};

/// Throws std::invalid_argument at construction for "*" with credentials, or a pattern this
/// does not understand.
Middleware cors(CorsOptions options);

/// Whether `origin` is allowed by `options` (for tests and apps that decide by hand).
class CorsPolicy {
public:
  explicit CorsPolicy(const CorsOptions& options);
  bool allows(std::string_view origin) const noexcept;
  bool any() const noexcept { return any_; }

private:
  struct Pattern {
    std::string prefix; // "https://"
    std::string suffix; // ".example.com" or ".example.com:8443"
  };
  std::vector<std::string> exact_;
  std::vector<Pattern> patterns_;
  bool any_ = false;
};

} // namespace lithe::mw
