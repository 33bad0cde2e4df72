// Env: Rack's env hash, made fast (SPEC §2). The CGI keys are there under their Rack names
// (env["PATH_INFO"]) and through typed accessors (env.path()); the strings are views into
// the connection's buffer. Middleware keeps its own values under its own keys. The engine
// services of a request (async callback, close and finish hooks, the loop) hang off it too.
#pragma once

#include <lithe/function.hpp>
#include <lithe/input.hpp>
#include <lithe/loop.hpp>
#include <lithe/response.hpp>
#include <lithe/small_vector.hpp>
#include <lithe/str.hpp>

#include <any>
#include <chrono>
#include <cstdint>
#include <forward_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace lithe {

namespace detail {
class Exchange;
}

struct RequestHeader {
  std::string_view name;
  std::string_view value;
};

/// How a response ended, for finish hooks (Rack 3.2's rack.response_finished; SPEC §6.3).
struct Outcome {
  int status = 0;                                 // the status sent, 0 when no head went out
  std::uint64_t head_bytes = 0;                   // bytes of status line and headers written
  std::uint64_t body_bytes = 0;                   // bytes of body written (before chunk framing)
  CloseReason reason = CloseReason::done;         // done when the whole response reached the socket
  std::chrono::steady_clock::duration duration{}; // from the request's head to the last byte
};

class AsyncCallback;

class Env {
public:
  Env() = default;
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;

  // --- The CGI keys (SPEC §2.1), as views valid until the response finished.
  std::string_view method() const noexcept { return method_; }           // REQUEST_METHOD
  std::string_view script_name() const noexcept { return script_name_; } // SCRIPT_NAME
  std::string_view path() const noexcept { return path_; }               // PATH_INFO
  std::string_view query() const noexcept { return query_; }             // QUERY_STRING
  std::string_view target() const noexcept { return target_; }           // REQUEST_URI
  std::string_view server_name() const noexcept { return server_name_; } // SERVER_NAME
  std::string_view server_port() const noexcept { return server_port_; } // SERVER_PORT
  std::string_view protocol() const noexcept { return protocol_; }       // SERVER_PROTOCOL
  std::string_view url_scheme() const noexcept { return url_scheme_; }   // lithe.url_scheme
  std::string_view remote_addr() const noexcept {                        // REMOTE_ADDR
    return remote_addr_.data() ? remote_addr_ : peer_address();
  }
  std::string_view content_type() const noexcept { return header("content-type").value_or(""); }
  std::string_view content_length() const noexcept { return header("content-length").value_or(""); }
  /// The request body (lithe.input), complete: the engine reads it before calling the app,
  /// unless the server streams bodies (then it is empty; read input()).
  std::string_view body() const noexcept { return body_; }
  /// The request body as it arrives (SPEC 2.12): whole or streamed.
  Input& input() noexcept { return input_; }
  const Input& input() const noexcept { return input_; }

  /// The first value of a request header, by case-insensitive name.
  std::optional<std::string_view> header(std::string_view name) const noexcept;
  /// Every request header, in arrival order, duplicates included.
  std::span<const RequestHeader> headers() const noexcept {
    return {headers_.data(), headers_.size()};
  }

  /// Rack-style lookup: "REQUEST_METHOD", "PATH_INFO", ..., "HTTP_USER_AGENT" (request
  /// headers; repeated ones joined with ", "), "lithe.input", "lithe.url_scheme", and the
  /// string values middleware set. "" when absent.
  std::string_view operator[](std::string_view key) const;
  std::optional<std::string_view> find(std::string_view key) const;

  // --- Values of middleware (SPEC §2.10): keys are namespaced, "router.params", "session".
  void set(Str key, Str value);
  template <class T, class... A> T& emplace(Str key, A&&... args) {
    Extra& e = extra_slot(std::move(key));
    return e.object.emplace<T>(std::forward<A>(args)...);
  }
  template <class T> T* get(std::string_view key) noexcept {
    for (Extra& e : extras_)
      if (e.key.view() == key) return std::any_cast<T>(&e.object);
    return nullptr;
  }
  bool erase(std::string_view key);

  /// The TLS session's details (SPEC 12.2), copied out: "protocol" (TLSv1.3), "cipher",
  /// "sni" (the name the client asked for), "alpn", and with client certificates
  /// (TlsOptions::client_ca) "client_verify" (SUCCESS or NONE), "client_subject",
  /// "client_issuer" (RFC 2253 text) and "client_cert" (PEM). "" without TLS, for an unknown
  /// name, or once the connection is gone. On the connection's loop thread.
  std::string tls_info(std::string_view name) const;

  // --- Path parameters, set by routers (SPEC §2.11).
  void set_param(Str name, Str value) {
    params_.push_back(Param{std::move(name), std::move(value)});
  }
  std::optional<std::string_view> param(std::string_view name) const noexcept;
  struct Param {
    Str name;
    Str value;
  };
  std::span<const Param> params() const noexcept { return {params_.data(), params_.size()}; }
  void clear_params() noexcept { params_.clear(); }

  // --- SCRIPT_NAME/PATH_INFO split (URLMap, routers). The views must point into memory
  // that lives as long as the request: sub-views of the original values, or keep().
  void set_script_name(std::string_view v) noexcept { script_name_ = v; }
  void set_path(std::string_view v) noexcept { path_ = v; }
  /// REMOTE_ADDR and lithe.url_scheme as a trusted proxy reported them (mw::client_ip). The
  /// view must live as long as the request: a literal or keep(). The scheme is http or https.
  void set_remote_addr(std::string_view v) noexcept { remote_addr_ = v.data() ? v : ""; }
  void set_url_scheme(std::string_view v) noexcept { url_scheme_ = v; }
  /// Copies a string into storage the env owns for the request's lifetime.
  std::string_view keep(std::string s);
  /// An empty string the env owns for the request's lifetime (keep() without a copy).
  std::string& keep_string();

  // --- Engine services (SPEC §5-6).
  Loop& loop() const noexcept;
  /// The async callback (Thin's env['async.callback']): return lithe::async from the app,
  /// keep this, and call it once with the real response, from any thread.
  AsyncCallback async_callback();
  /// Called once if the client goes away (or the server stops, or a timeout fires) before
  /// the response finished (Thin's async.close). Runs on the loop.
  void on_close(Function<void(CloseReason)> fn);
  /// Called once when the response ended, late or not, with how (Rack 3.2's
  /// rack.response_finished). Runs on the loop; the env is still valid then.
  void on_finished(Function<void(Env&, const Outcome&)> fn);
  /// Applies `fn` to the response: at once if `r` is a response, or when the late response
  /// arrives if `r` is the async sentinel. This is how a middleware sees late responses
  /// (SPEC §6.1). Returns what the middleware should return.
  Response then(Response r, Function<Response(Env&, Response)> fn);
  /// Stops waiting for a late response (SPEC 6.5): the close hooks (env.on_close) run now with
  /// `why`, so the app stops its work, and `instead` is sent. Loop thread only. False when a
  /// response was already given or the app did not return the sentinel. Timeout uses it.
  bool abandon(CloseReason why, Response instead);
  /// Writes a line to the server's error log (lithe.errors), tagged with the request line.
  void error(std::string_view message) const;
  /// When the request's head was parsed.
  std::chrono::steady_clock::time_point start_time() const noexcept { return start_; }

  detail::Exchange* exchange() const noexcept { return ex_; }

private:
  friend class detail::Exchange;
  friend class Input;
  void set_body(std::string_view b) noexcept { body_ = b; }
  struct Extra {
    Str key;
    Str text;
    std::any object;
  };
  Extra& extra_slot(Str key);
  /// REMOTE_ADDR is formatted when first asked for (most apps never do), by the engine.
  std::string_view peer_address() const noexcept;
  std::optional<std::string_view> header_joined(std::string_view http_key) const;

  detail::Exchange* ex_ = nullptr;
  std::string_view method_, script_name_, path_, query_, target_, server_name_, server_port_,
      protocol_, url_scheme_, body_;
  mutable std::string_view remote_addr_; // null until asked for, when the engine formats it
  Input input_{*this};
  SmallVector<RequestHeader, 24> headers_;
  SmallVector<Extra, 2> extras_;
  SmallVector<Param, 4> params_;
  mutable std::forward_list<std::string> owned_;
  std::chrono::steady_clock::time_point start_{};
};

/// The handle behind env.async_callback(): call it once with the response. Copyable; safe
/// from any thread and after the client left (then it returns false and does nothing).
class AsyncCallback {
public:
  AsyncCallback() noexcept = default;
  AsyncCallback(const AsyncCallback& o) noexcept;
  AsyncCallback(AsyncCallback&& o) noexcept;
  AsyncCallback& operator=(AsyncCallback o) noexcept;
  ~AsyncCallback();

  /// Delivers the response. Returns false if it was not delivered: a response was already
  /// given (a second call), or the client left. Off the loop it posts itself there and
  /// returns true unless it already knows it is too late.
  bool operator()(Response r) const;
  /// True while a response is still awaited and the client is still there.
  bool pending() const noexcept;
  explicit operator bool() const noexcept { return ex_ != nullptr; }

  explicit AsyncCallback(detail::Exchange* ex) noexcept;

private:
  detail::Exchange* ex_ = nullptr;
};

} // namespace lithe
