// Lint (SPEC §9): checks the env a server built and the responses an app returns, late ones
// included, each failure naming its SPEC rule. The async-aware checks (a callback called
// twice, a dropped callback or body, a write after the end) are made by the exchange itself
// and reported here too.
#include <lithe/lint.hpp>
#include <lithe/log.hpp>

#include <atomic>
#include <memory>
#include <string>

namespace lithe {

namespace {

std::atomic<std::size_t> violations{0};

bool is_tchar(unsigned char c) noexcept {
  // RFC 9110 §5.6.2 token characters.
  if ((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')) return true;
  switch (c) {
  case '!':
  case '#':
  case '$':
  case '%':
  case '&':
  case '\'':
  case '*':
  case '+':
  case '-':
  case '.':
  case '^':
  case '_':
  case '`':
  case '|':
  case '~':
    return true;
  default:
    return false;
  }
}

bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (!is_tchar(c)) return false;
  return true;
}

bool is_field_value(std::string_view s) noexcept {
  for (unsigned char c : s)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

bool is_digits(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// A Host value's name and port as SPEC 2.5 reads it: "example.org:8080", "[::1]:8080" (the
// brackets stay in the name), "example.org" (no port).
void split_host(std::string_view host, std::string_view& name, std::string_view& port) noexcept {
  std::size_t colon = std::string_view::npos;
  if (!host.empty() && host.front() == '[') {
    if (std::size_t close = host.find(']');
        close != std::string_view::npos && close + 1 < host.size() && host[close + 1] == ':')
      colon = close + 1;
  } else {
    colon = host.rfind(':');
  }
  name = host.substr(0, colon);
  port = colon == std::string_view::npos ? std::string_view() : host.substr(colon + 1);
}

std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s.substr(0, 200)) {
    if (c == '\r')
      out += "\\r";
    else if (c == '\n')
      out += "\\n";
    else if (c < 0x20 || c == 0x7f)
      out += "\\x" + std::string(1, "0123456789abcdef"[c >> 4]) + "0123456789abcdef"[c & 15];
    else
      out.push_back(static_cast<char>(c));
  }
  return out + "\"";
}

using Report = Function<void(const LintViolation&)>;

struct Checker {
  Report& report;
  bool ok = true;
  void fail(std::string rule, std::string message) {
    ok = false;
    violations.fetch_add(1, std::memory_order_relaxed);
    LintViolation v{std::move(rule), std::move(message)};
    if (report)
      report(v);
    else
      log_error("lint: SPEC " + v.rule + ": " + v.message);
  }

  void env(const Env& e) {
    if (!is_token(e.method())) fail("2.1", "REQUEST_METHOD is not a token: " + quoted(e.method()));
    std::string_view sn = e.script_name(), pi = e.path();
    if (!sn.empty() && sn.front() != '/')
      fail("2.2", "SCRIPT_NAME must be empty or start with '/': " + quoted(sn));
    if (sn == "/") fail("2.2", "SCRIPT_NAME must not be \"/\" (make it empty, PATH_INFO \"/\")");
    if (!pi.empty() && pi.front() != '/' && !(pi == "*" && e.method() == "OPTIONS"))
      fail("2.3", "PATH_INFO must be empty or start with '/': " + quoted(pi));
    if (sn.empty() && pi.empty()) fail("2.3", "SCRIPT_NAME and PATH_INFO are both empty");
    std::string_view target = e.target().substr(0, e.target().find('#'));
    std::size_t q = target.find('?');
    if (e.query() != (q == std::string_view::npos ? std::string_view() : target.substr(q + 1)))
      fail("2.4", "QUERY_STRING " + quoted(e.query()) +
                      " is not what follows the first '?' of the target " + quoted(e.target()));
    std::string_view host = e.header("host").value_or(""), host_name, host_port;
    split_host(host, host_name, host_port);
    if (e.server_name().empty())
      fail("2.5", "SERVER_NAME is empty");
    else if (e.server_name() != (host_name.empty() ? std::string_view("localhost") : host_name))
      fail("2.5", "SERVER_NAME " + quoted(e.server_name()) +
                      " is not the Host header's name (localhost without one): Host " +
                      quoted(host));
    if (!is_digits(e.server_port()))
      fail("2.5", "SERVER_PORT is not a number: " + quoted(e.server_port()));
    else if (!host_port.empty() && e.server_port() != host_port)
      fail("2.5", "SERVER_PORT " + quoted(e.server_port()) +
                      " is not the Host header's port: Host " + quoted(host));
    if (e.protocol() != "HTTP/1.1" && e.protocol() != "HTTP/1.0")
      fail("2.5", "SERVER_PROTOCOL must be HTTP/1.0 or HTTP/1.1: " + quoted(e.protocol()));
    if (e.url_scheme() != "http" && e.url_scheme() != "https")
      fail("2.7", "lithe.url_scheme must be http or https: " + quoted(e.url_scheme()));
    for (const RequestHeader& h : e.headers()) {
      if (!is_token(h.name)) fail("2.6", "request header name is not a token: " + quoted(h.name));
      if (!is_field_value(h.value))
        fail("2.6",
             "request header " + std::string(h.name) + " has CR, LF or NUL: " + quoted(h.value));
    }
    if (auto cl = e.header("content-length"); cl && !e.input().streaming()) {
      if (!parse_u64(*cl))
        fail("2.8", "CONTENT_LENGTH is not a number: " + quoted(*cl));
      else if (*parse_u64(*cl) != e.body().size())
        fail("2.8", "CONTENT_LENGTH " + std::string(*cl) + " but lithe.input holds " +
                        std::to_string(e.body().size()) + " bytes");
    }
  }

  void response(const Response& r, const Env& e) {
    if (r.status < 100 || r.status > 599) {
      fail("3.1",
           "status must be 100..599 (or the sentinel from call): " + std::to_string(r.status));
      return;
    }
    bool hijack = r.body.kind() == Body::Kind::hijack;
    for (const Header& h : r.headers) {
      std::string_view n = h.name.view(), v = h.value.view();
      if (!is_token(n)) fail("3.2", "header name is not a token: " + quoted(n));
      if (iequals(n, "status")) fail("3.2", "a Status header is not allowed");
      if (!is_field_value(v))
        fail("3.3", "header " + std::string(n) + " has CR, LF or NUL: " + quoted(v));
      if (iequals(n, "transfer-encoding"))
        fail("3.7", "Transfer-Encoding is the server's to set; leave it out");
      if (iequals(n, "connection") && !iequals(v, "close") && !(hijack && iequals(v, "upgrade")))
        fail("3.7",
             "Connection may only be \"close\" (or \"Upgrade\" with a hijack): " + quoted(v));
      if (iequals(n, "content-length")) {
        if (!parse_u64(v)) {
          fail("3.6", "Content-Length is not a number: " + quoted(v));
        } else if (auto size = r.body.size(); size && e.method() != "HEAD" &&
                                              !status_has_no_body(r.status) &&
                                              *parse_u64(v) != *size) {
          fail("3.6", "Content-Length " + std::string(v) + " but the body holds " +
                          std::to_string(*size) + " bytes");
        }
      }
    }
    if (status_has_no_body(r.status) && !hijack) {
      if (auto size = r.body.size(); !size || *size != 0)
        fail("3.5", "status " + std::to_string(r.status) + " must have an empty body");
      if ((r.status < 200 || r.status == 204) && r.headers.has("content-length"))
        fail("3.5", "status " + std::to_string(r.status) + " must not have Content-Length");
    }
    if (r.status == 101 && !hijack) fail("3.8", "101 Switching Protocols needs a hijack body");
    if (const FileRange* f = r.body.get_if<FileRange>(); f && !f->file)
      fail("4.3", "a file body has no open file");
  }
};

Response lint_error() {
  return Response(500, {{"Content-Type", "text/plain"}}, "Internal Server Error (lint)\n");
}

} // namespace

std::size_t lint_violation_count() noexcept {
  return violations.load(std::memory_order_relaxed);
}

void detail::report_lint(LintViolation v) {
  violations.fetch_add(1, std::memory_order_relaxed);
  log_error("lint: SPEC " + v.rule + ": " + v.message);
}

App lint(App app, LintOptions options) {
  auto report = std::make_shared<Report>(std::move(options.on_violation));
  return [app = std::move(app), report](Env& env) -> Response {
    Checker{*report}.env(env);
    Response r = app(env);
    if (!r.is_async()) {
      Checker c{*report};
      c.response(r, env);
      return c.ok ? std::move(r) : lint_error();
    }
    return env.then(std::move(r), [report](Env& env, Response late) -> Response {
      Checker c{*report};
      c.response(late, env);
      return c.ok ? std::move(late) : lint_error();
    });
  };
}

Middleware lint_middleware() {
  return [](App app) { return lint(std::move(app)); };
}

} // namespace lithe
