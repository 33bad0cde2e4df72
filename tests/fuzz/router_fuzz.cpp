// Fuzzes the Router (docs/router.md): pattern compilation (fixed patterns of every shape, and
// patterns from the input) and the segment-tree walk on any PATH_INFO and query, through
// MockRequest; and lithe::percent_decode (RFC 3986 §2.1), which route params and forms use.
#include "fuzz_input.hpp"

#include <lithe/lithe.hpp>
#include <lithe/mw/router.hpp>

#include <algorithm>
#include <string>

namespace {

using namespace lithe;

[[noreturn]] void broken() {
  __builtin_trap();
}

// Reads every param (views into the request, or decoded copies) into the body.
Response echo(Env& env) {
  std::string body(env.path());
  for (const Env::Param& p : env.params())
    body.append(" ").append(p.name.view()).append("=").append(p.value.view());
  return {200, {{"Content-Type", "text/plain"}}, body + "\n"};
}

void add_fixed_routes(mw::Router& r) {
  r.get("/", echo);
  r.get("/hello/:name", echo);
  r.get("/say/*/to/*", echo);
  r.get("/download/*.*", echo);
  r.get("/posts/:id.:fmt", echo);
  r.get("/posts/:id?", echo);
  r.get("/files(/:fmt)", echo); // Sinatra's optional group: lithe reads it as text and a param
  r.get("/range/:from-:to", echo);
  r.get("/static/*", echo);
  r.get("/users/:id/edit", echo);
  r.post("/things", echo);
  r.del("/things/:id", echo);
  r.route("PROPFIND", "/dav/*", echo);
  r.route("GET", std::regex(R"(/archive/(\d{4})/(\w+))"), echo);
  r.get("/pass/:x", [](Env& env) -> Response {
    if (env.param("x") == "me") mw::pass();
    return echo(env);
  });
  r.get("/pass/*", echo);
  r.get("/halt/:code", [](Env& env) -> Response {
    auto code = parse_u64(env.param("code").value_or(""));
    mw::halt(code && *code >= 400 && *code < 600 ? static_cast<int>(*code) : 418);
  });
  r.get("/throw/:x", [](Env&) -> Response { throw std::runtime_error("route threw"); });
  r.before([](Env& env) {
    if (env.path().starts_with("/private")) mw::halt(401);
  });
  r.after([](Env&, Response& res) { res.headers.add("X-Routed", "1"); });
  r.error(404, [](Env&, int) -> Response { return {404, {}, "nothing here\n"}; });
}

// A pattern from the input, unless its captures could make matching exponential (a tree
// segment such as "*a*a*a*a" backtracks over every split): that is the pattern author's
// choice, not input an attacker controls.
bool reasonable(std::string_view pattern) {
  return std::count_if(pattern.begin(), pattern.end(),
                       [](char c) { return c == '*' || c == ':'; }) <= 3;
}

std::string encode_all(std::string_view s, bool upper) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  for (unsigned char c : s)
    out.append({'%', digits[c >> 4], digits[c & 15]});
  return out;
}

void check_percent_decode(std::string_view s, bool plus) {
  std::string d = percent_decode(s, plus);
  if (d.size() > s.size()) broken();
  if (s.find('%') == std::string_view::npos && (!plus || s.find('+') == std::string_view::npos) &&
      d != s)
    broken();
  if (percent_decode(encode_all(s, plus), plus) != s) broken(); // every escape undoes itself
}

} // namespace

// Input: flags, up to three patterns (one a line), the request target (a line), the method
// (a line), then bytes for percent_decode.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool quiet = [] {
    set_error_log([](std::string_view) {}); // a throwing route logs each time
    return true;
  }();
  (void)quiet;
  // The fixed routes are built once (compiling a std::regex per input would be most of the
  // time); the input's own patterns go in a router of their own in front of them.
  static const mw::Router fixed = [] {
    mw::Router r;
    add_fixed_routes(r);
    return r;
  }();
  lithe::fuzz::FuzzInput in(data, size);
  std::uint8_t flags = in.byte();
  mw::Router own;
  for (int i = 0; i < (flags & 3); ++i) {
    std::string_view pattern = in.take_until('\n');
    if (!reasonable(pattern)) continue;
    try {
      own.route(i == 0 ? "GET" : "POST", pattern, echo);
    } catch (...) { // refusing a bad pattern is allowed
    }
  }
  std::string target(in.take_until('\n'));
  std::string_view method = in.take_until('\n');
  if (method.empty()) method = (flags & 4) ? "HEAD" : "GET";
  std::string_view rest = in.rest();

  App app = fixed; // as an App: 404 and 405 of its own
  if (flags & 8) app = fixed.middleware()([](Env& env) -> Response { return echo(env); });
  if (flags & 3) app = own.middleware()(std::move(app));
  MockRequest mock(app);
  MockOptions opts{.lint = false};
  if (flags & 16) opts.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  opts.body = std::string(rest);
  MockResponse res = mock.request(method, target, std::move(opts));
  if (!res.finished || res.status < 100 || res.status > 599) broken();

  check_percent_decode(rest, flags & 32);
  check_percent_decode(target, !(flags & 32));
  return 0;
}
