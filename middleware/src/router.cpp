// Router: patterns compiled into a tree of path segments (literal, :param, * splat, or a
// segment mixing text and captures such as "*.*"), walked depth first with literals tried
// before params before splats; captures are views into PATH_INFO, decoded only when they
// hold a '%'. halt/pass are exceptions caught here: they never leave the router.
#include <lithe/mw/params.hpp>
#include <lithe/mw/router.hpp>

#include <lithe/small_vector.hpp>

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <unordered_map>

namespace lithe::mw {

void halt(int status, std::string body) {
  if (body.empty()) throw Halt{Response(status)}; // a bare halt: the status's error handler
  throw Halt{Response(status, {}, std::move(body))};
}
void halt(Response response) {
  throw Halt{std::move(response)};
}
void pass() {
  throw Pass{};
}

std::vector<std::string_view> splats(const Env& env) {
  std::vector<std::string_view> out;
  for (const Env::Param& p : env.params())
    if (p.name.view() == "splat") out.push_back(p.value.view());
  return out;
}

namespace {

using Captures = SmallVector<std::string_view, 8>;

/// A piece of a segment that mixes text and captures ("*.*", ":name.:format").
struct Piece {
  bool capture;
  bool splat; // a splat capture may be empty; a param may not
  std::string text;
};

struct TextHash {
  using is_transparent = void; // find(string_view) without building a std::string
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

struct Node {
  std::unordered_map<std::string, std::unique_ptr<Node>, TextHash, std::equal_to<>> literals;
  std::unique_ptr<Node> param, splat;
  std::vector<std::pair<std::vector<Piece>, std::unique_ptr<Node>>> mixed;
  std::vector<std::size_t> routes; // routes ending here, in definition order
};

struct Route {
  std::string method;
  Router::Handler handler;
  std::vector<std::string> names; // capture names in order ("id", "splat", ...)
  std::optional<std::regex> re;
  RouteOptions body{};
};

/// A value for env params: the view itself when nothing needs decoding, else a kept copy.
Str param_value(Env& env, std::string_view raw, bool form) {
  std::string decoded;
  std::string_view v = form ? form_decode(raw, decoded) : raw;
  if (!form && raw.find('%') != std::string_view::npos) v = decoded = percent_decode(raw);
  if (v.data() == raw.data()) return Str::borrow(raw);
  return Str::borrow(env.keep(std::move(decoded)));
}

/// Adds "a=1&b=2" pairs as params (after the route's own, so those win on a name clash).
void add_form_params(Env& env, std::string_view q) {
  for_each_form_pair(q, [&env](std::string_view k, std::string_view v) {
    env.set_param(param_value(env, k, true), param_value(env, v, true));
    return true;
  });
}

/// Matching steps one request may take (each split a mixed segment's capture tries): a path
/// built to make patterns such as "/download/*.*" backtrack over every split ends here, as a
/// miss, instead of holding the loop (found by router_fuzz: seconds for one request).
constexpr std::size_t match_budget = 1 << 16;

/// Matches a mixed segment, shortest captures first, within `budget` steps.
bool match_pieces(const std::vector<Piece>& pieces, std::size_t at, std::string_view seg,
                  Captures& caps, std::size_t& budget) {
  if (budget == 0) return false;
  --budget;
  if (at == pieces.size()) return seg.empty();
  const Piece& p = pieces[at];
  if (!p.capture) {
    if (!seg.starts_with(p.text)) return false;
    return match_pieces(pieces, at + 1, seg.substr(p.text.size()), caps, budget);
  }
  if (at + 1 == pieces.size()) { // the last capture takes the rest
    if (seg.empty() && !p.splat) return false;
    caps.push_back(seg);
    return true;
  }
  for (std::size_t n = p.splat ? 0 : 1; n <= seg.size(); ++n) {
    if (budget == 0) return false;
    --budget;
    const Piece& next = pieces[at + 1];
    if (!next.capture) { // jump to the next place the literal after this capture occurs
      std::size_t found = seg.find(next.text, n);
      if (found == std::string_view::npos) return false;
      n = found;
    }
    caps.push_back(seg.substr(0, n));
    if (match_pieces(pieces, at + 1, seg.substr(n), caps, budget)) return true;
    caps.pop_back();
  }
  return false;
}

// What a throw that is not a std::exception (`throw 42;`) reaches the exception handling as.
const std::runtime_error& unknown_exception() {
  static const std::runtime_error e("an exception that is not a std::exception");
  return e;
}

} // namespace

struct Router::Impl {
  Node root;
  std::vector<Route> routes;
  std::vector<std::size_t> regex_routes;
  std::vector<Filter> befores;
  std::vector<AfterFilter> afters;
  std::unordered_map<int, ErrorHandler> errors;
  ExceptionHandler on_exception;
  std::uint64_t max_body = 512 * 1024;

  void add(std::string_view method, std::string_view pattern, Handler h, RouteOptions o);
  /// A route's body: whole before a route that does not stream (gathered here first when the
  /// server streams), within the route's limit.
  std::optional<Response> body_first(Env& env, const Route& r, const Captures& caps) const;
  Response dispatch(Env& env, const App* next) const;
  Response run_route(Env& env, const Route& r, const Captures& caps) const;
  /// Runs a route: true when it answered (into `answer`), false when it passed.
  bool attempt(Env& env, const Route& r, const Captures& caps,
               std::optional<Response>& answer) const;
  Response error_response(Env& env, int status, Response fallback) const;
  /// The router's own answer for `status` (a plain-text `text`), unless an error handler
  /// registered for it answers instead.
  Response plain_error(Env& env, int status, const char* text) const {
    return error_response(env, status, {status, {{"Content-Type", "text/plain"}}, text});
  }
  Response exception_response(Env& env, const std::exception& e) const;
};

void Router::Impl::add(std::string_view method, std::string_view pattern, Handler h,
                       RouteOptions o) {
  // Split into segments; an optional segment ("/:id?") makes two variants of the route.
  std::vector<std::string_view> segs;
  std::string_view p = pattern.starts_with('/') ? pattern.substr(1) : pattern;
  for (;;) {
    std::size_t slash = p.find('/');
    segs.push_back(p.substr(0, slash));
    if (slash == std::string_view::npos) break;
    p = p.substr(slash + 1);
  }
  std::size_t optional = segs.size();
  for (std::size_t i = 0; i < segs.size(); ++i)
    if (segs[i].size() > 1 && segs[i].ends_with('?')) {
      optional = i;
      segs[i].remove_suffix(1);
      break;
    }
  for (int variant = 0; variant < (optional < segs.size() ? 2 : 1); ++variant) {
    Route r{std::string(method), h, {}, std::nullopt, o};
    Node* n = &root;
    for (std::size_t i = 0; i < segs.size(); ++i) {
      if (variant == 1 && i == optional) continue;
      std::string_view s = segs[i];
      if (s == "*") {
        if (!n->splat) n->splat = std::make_unique<Node>();
        n = n->splat.get();
        r.names.emplace_back("splat");
      } else if (s.starts_with(':') && s.find_first_of(".*:-", 1) == std::string_view::npos) {
        if (!n->param) n->param = std::make_unique<Node>();
        n = n->param.get();
        r.names.emplace_back(s.substr(1));
      } else if (s.find_first_of(":*") != std::string_view::npos) {
        std::vector<Piece> pieces;
        std::size_t i2 = 0;
        while (i2 < s.size()) {
          if (s[i2] == '*') {
            pieces.push_back({true, true, {}});
            r.names.emplace_back("splat");
            ++i2;
          } else if (s[i2] == ':') {
            std::size_t end = s.find_first_of(".*:-", i2 + 1);
            if (end == std::string_view::npos) end = s.size();
            pieces.push_back({true, false, {}});
            r.names.emplace_back(s.substr(i2 + 1, end - i2 - 1));
            i2 = end;
          } else {
            std::size_t end = s.find_first_of(":*", i2);
            if (end == std::string_view::npos) end = s.size();
            pieces.push_back({false, false, std::string(s.substr(i2, end - i2))});
            i2 = end;
          }
        }
        auto same = [&pieces](const auto& m) {
          return m.first.size() == pieces.size() &&
                 std::equal(pieces.begin(), pieces.end(), m.first.begin(),
                            [](const Piece& a, const Piece& b) {
                              return a.capture == b.capture && a.splat == b.splat &&
                                     a.text == b.text;
                            });
        };
        auto it = std::find_if(n->mixed.begin(), n->mixed.end(), same);
        if (it == n->mixed.end()) {
          n->mixed.emplace_back(std::move(pieces), std::make_unique<Node>());
          it = std::prev(n->mixed.end());
        }
        n = it->second.get();
      } else {
        auto& child = n->literals[std::string(s)];
        if (!child) child = std::make_unique<Node>();
        n = child.get();
      }
    }
    n->routes.push_back(routes.size());
    routes.push_back(std::move(r));
  }
}

Response Router::Impl::error_response(Env& env, int status, Response fallback) const {
  auto it = errors.find(status);
  if (it == errors.end()) return fallback;
  try {
    return it->second(env, status);
  } catch (const std::exception& e) {
    env.error(std::string("router: the error handler for ") + std::to_string(status) +
              " threw: " + e.what());
    return fallback;
  } catch (...) {
    env.error(std::string("router: the error handler for ") + std::to_string(status) +
              " threw (not a std::exception)");
    return fallback;
  }
}

Response Router::Impl::exception_response(Env& env, const std::exception& e) const {
  env.error(std::string("router: the handler for ") + std::string(env.method()) + " " +
            std::string(env.path()) + " threw: " + e.what());
  if (on_exception) {
    try {
      return on_exception(env, e);
    } catch (...) { // the handler of last resort failed too: the default answer
    }
  }
  return error_response(env, 500, internal_server_error());
}

Response Router::Impl::run_route(Env& env, const Route& r, const Captures& caps) const {
  env.clear_params();
  for (std::size_t i = 0; i < caps.size() && i < r.names.size(); ++i)
    env.set_param(Str::borrow(r.names[i]), param_value(env, caps[i], false));
  if (!env.query().empty()) add_form_params(env, env.query());
  if (!env.body().empty() && env.content_type().starts_with("application/x-www-form-urlencoded"))
    add_form_params(env, env.body());
  for (const Filter& f : befores)
    f(env);
  Response res = r.handler(env); // Pass and Halt propagate to dispatch
  if (afters.empty()) return res;
  return env.then(std::move(res), [this](Env& e, Response late) {
    for (const AfterFilter& f : afters)
      f(e, late);
    return late;
  });
}

/// One request's walk through the tree.
struct Match {
  const Router::Impl& impl;
  Env& env;
  SmallVector<std::string_view, 16> segs;
  std::string allow; // methods of routes whose path matched, for 405
  std::optional<Response> answer;
  Captures caps;
  std::size_t budget = match_budget;

  /// Tries the routes ending at `n`; true when one answered (a pass keeps the walk going).
  bool try_routes(const Node& n) {
    std::string_view method = env.method();
    for (bool head_as_get : {false, true}) {
      if (head_as_get && method != "HEAD") break;
      for (std::size_t idx : n.routes) {
        const Route& r = impl.routes[idx];
        if (r.method != (head_as_get ? std::string_view("GET") : method)) {
          if (!head_as_get && allow.find(r.method) == std::string::npos)
            allow += (allow.empty() ? "" : ", ") + r.method;
          continue;
        }
        if (impl.attempt(env, r, caps, answer)) return true;
      }
    }
    return false;
  }

  bool walk(const Node& n, std::size_t i) {
    if (i == segs.size()) return try_routes(n);
    std::string_view s = segs[i];
    if (auto it = n.literals.find(s); it != n.literals.end() && walk(*it->second, i + 1))
      return true;
    if (n.param && !s.empty()) {
      caps.push_back(s);
      if (walk(*n.param, i + 1)) return true;
      caps.pop_back();
    }
    for (const auto& [pieces, child] : n.mixed) {
      // A splat inside a segment ("/download/*.*") may span segments, as in Sinatra.
      bool spans =
          std::any_of(pieces.begin(), pieces.end(), [](const Piece& p) { return p.splat; });
      for (std::size_t j = i; j < (spans ? segs.size() : i + 1); ++j) {
        std::string_view span(s.data(), segs[j].data() + segs[j].size() - s.data());
        std::size_t mark = caps.size();
        if (match_pieces(pieces, 0, span, caps, budget) && walk(*child, j + 1)) return true;
        while (caps.size() > mark)
          caps.pop_back();
      }
    }
    if (n.splat)
      for (std::size_t j = i; j < segs.size(); ++j) { // the shortest span first
        caps.push_back(std::string_view(s.data(), segs[j].data() + segs[j].size() - s.data()));
        if (walk(*n.splat, j + 1)) return true;
        caps.pop_back();
      }
    return false;
  }
};

std::optional<Response> Router::Impl::body_first(Env& env, const Route& r,
                                                 const Captures& caps) const {
  Input& in = env.input();
  const std::uint64_t limit = r.body.max_body ? r.body.max_body : max_body;
  auto too_large = [&] { return plain_error(env, 413, "Payload Too Large\n"); };
  if (!in.streaming() || in.ended()) { // whole: the engine's own limit applied already
    if (r.body.max_body && in.received() > r.body.max_body) return too_large();
    return std::nullopt;
  }
  in.set_limit(limit);
  if (in.length() && *in.length() > limit) return too_large();
  if (r.body.stream) return std::nullopt; // the handler reads it as it comes
  // Gather the body, then run the route as if it had come whole. Its answer goes out through
  // the async callback; a route that passes then is answered 404 (the walk is over).
  AsyncCallback cb = env.async_callback();
  const std::size_t index = static_cast<std::size_t>(&r - routes.data());
  Captures kept = caps; // views into the request's head: pinned, stable
  in.read_all(static_cast<std::size_t>(limit), [this, &env, index, kept, cb](InputError e) {
    if (e == InputError::too_large) {
      cb(plain_error(env, 413, "Payload Too Large\n"));
      return;
    }
    if (e != InputError::none) return; // the client left or stalled: the engine answered
    std::optional<Response> answer;
    if (!attempt(env, routes[index], kept, answer)) answer = plain_error(env, 404, "Not Found\n");
    if (!answer->is_async()) cb(std::move(*answer));
  });
  return Response(lithe::async);
}

bool Router::Impl::attempt(Env& env, const Route& r, const Captures& caps,
                           std::optional<Response>& answer) const {
  if (auto first = body_first(env, r, caps)) {
    answer = std::move(first);
    return true;
  }
  try {
    answer = run_route(env, r, caps);
    return true;
  } catch (const Pass&) {
    return false;
  } catch (Halt& h) {
    answer = h.response.body.empty() && h.response.status >= 400
                 ? error_response(env, h.response.status, std::move(h.response))
                 : std::move(h.response);
    return true;
  } catch (const std::exception& e) {
    answer = exception_response(env, e);
    return true;
  } catch (...) {
    answer = exception_response(env, unknown_exception());
    return true;
  }
}

Response Router::Impl::dispatch(Env& env, const App* next) const {
  std::string_view path = env.path().empty() ? std::string_view("/") : env.path();
  Match m{*this, env, {}, {}, {}, {}, match_budget};
  for (std::string_view p = path.substr(1);;) {
    std::size_t slash = p.find('/');
    m.segs.push_back(p.substr(0, slash));
    if (slash == std::string_view::npos) break;
    p = p.substr(slash + 1);
  }
  if (m.walk(root, 0)) return std::move(*m.answer);
  std::string_view method = env.method();
  std::string& allow = m.allow;
  Captures& caps = m.caps;

  for (std::size_t idx : regex_routes) {
    const Route& r = routes[idx];
    std::match_results<std::string_view::const_iterator> groups;
    if (!std::regex_match(path.begin(), path.end(), groups, *r.re)) continue;
    if (r.method != method && !(method == "HEAD" && r.method == "GET")) {
      if (allow.find(r.method) == std::string::npos)
        allow += (allow.empty() ? "" : ", ") + r.method;
      continue;
    }
    Route numbered{r.method, r.handler, {}, std::nullopt};
    caps.clear();
    for (std::size_t g = 1; g < groups.size(); ++g) {
      numbered.names.push_back(std::to_string(g));
      caps.push_back(std::string_view(path.data() + (groups[g].first - path.begin()),
                                      static_cast<std::size_t>(groups[g].length())));
    }
    if (attempt(env, numbered, caps, m.answer)) return std::move(*m.answer);
  }

  env.clear_params();
  if (next) return (*next)(env);
  if (!allow.empty()) {
    if (allow.find("GET") != std::string::npos && allow.find("HEAD") == std::string::npos)
      allow += ", HEAD";
    Response r = error_response(env, 405, {405, {}, "Method Not Allowed\n"});
    r.headers.set("Allow", std::move(allow));
    return r;
  }
  return plain_error(env, 404, "Not Found\n");
}

Router::Router() : impl_(std::make_shared<Impl>()) {}
Router::~Router() = default;

Router& Router::route(std::string_view method, std::string_view pattern, Handler h,
                      RouteOptions o) {
  impl_->add(method, pattern, std::move(h), o);
  return *this;
}

Router& Router::max_body(std::uint64_t bytes) {
  impl_->max_body = bytes;
  return *this;
}

Router& Router::route(std::string_view method, std::regex pattern, Handler h) {
  impl_->regex_routes.push_back(impl_->routes.size());
  impl_->routes.push_back(Route{std::string(method), std::move(h), {}, std::move(pattern)});
  return *this;
}

struct AsyncRequest::State {
  Env* env; // nulled when the exchange ends
  Loop* loop;
  AsyncCallback cb;
  int status = 200;
  Headers headers;
  std::weak_ptr<const Router::Impl> router;
};

Router& Router::aroute(std::string_view method, std::string_view pattern, AsyncHandler h) {
  std::weak_ptr<const Impl> weak = impl_;
  return route(method, pattern, [h = std::move(h), weak](Env& env) -> Response {
    auto state = std::make_shared<AsyncRequest::State>(
        AsyncRequest::State{&env, &env.loop(), env.async_callback(), 200, {}, weak});
    // The env goes with the exchange: a callback that runs later must not reach it.
    env.on_finished([state](Env&, const Outcome&) { state->env = nullptr; });
    env.on_close([state](CloseReason) { state->env = nullptr; });
    AsyncRequest req(state);
    try {
      h(req);
    } catch (const std::exception& e) {
      req.fail(e);
    } catch (...) {
      req.fail(unknown_exception());
    }
    return async;
  });
}

Router& Router::websocket(std::string_view pattern, WebSocketOptions options) {
  App upgrade = mw::websocket(std::move(options));
  return get(pattern, [upgrade](Env& env) -> Response {
    if (!is_websocket_upgrade(env)) pass();
    return upgrade(env);
  });
}

Router& Router::before(Filter f) {
  impl_->befores.push_back(std::move(f));
  return *this;
}
Router& Router::after(AfterFilter f) {
  impl_->afters.push_back(std::move(f));
  return *this;
}
Router& Router::error(int status, ErrorHandler h) {
  impl_->errors[status] = std::move(h);
  return *this;
}
Router& Router::on_exception(ExceptionHandler h) {
  impl_->on_exception = std::move(h);
  return *this;
}

Response Router::operator()(Env& env) const {
  return impl_->dispatch(env, nullptr);
}

Middleware Router::middleware() const {
  return [impl = impl_](App next) -> App {
    return [impl, next = std::move(next)](Env& env) { return impl->dispatch(env, &next); };
  };
}

Env& AsyncRequest::env() const noexcept {
  return *state_->env;
}
void AsyncRequest::status(int s) const noexcept {
  state_->status = s;
}
void AsyncRequest::headers(Headers h) const {
  state_->headers = std::move(h);
}
bool AsyncRequest::pending() const noexcept {
  return state_->cb.pending();
}
Loop& AsyncRequest::loop() const noexcept {
  return *state_->loop;
}

void AsyncRequest::body(Body b) const {
  state_->cb(Response(state_->status, std::move(state_->headers), std::move(b)));
}

void AsyncRequest::fail(const std::exception& e) const {
  if (!state_->cb.pending() || !state_->env) return;
  auto router = state_->router.lock();
  state_->cb(router ? router->exception_response(*state_->env, e) : internal_server_error());
}

void AsyncRequest::async_schedule(std::function<void(AsyncRequest)> fn) const {
  state_->loop->next_tick([req = *this, fn = std::move(fn)] {
    if (!req.pending()) return; // the client left: nothing to answer
    try {
      fn(req);
    } catch (const std::exception& e) {
      req.fail(e);
    } catch (...) {
      req.fail(unknown_exception());
    }
  });
}

void AsyncRequest::on_close(Function<void(CloseReason)> fn) const {
  if (state_->env) state_->env->on_close(std::move(fn));
}

std::string AsyncRequest::param(std::string_view name) const {
  if (!state_->env) return {};
  return std::string(state_->env->param(name).value_or(""));
}

} // namespace lithe::mw
