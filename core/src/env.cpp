// Env: lookups by Rack key, middleware values, and the engine services (SPEC §2, §5-6).
#include <lithe/detail/exchange.hpp>
#include <lithe/env.hpp>
#include <lithe/log.hpp>

namespace lithe {

namespace {

// "HTTP_USER_AGENT" names the header "User-Agent": '_' stands for '-', case is ignored.
bool http_key_names(std::string_view header, std::string_view key_rest) noexcept {
  if (header.size() != key_rest.size()) return false;
  for (std::size_t i = 0; i < header.size(); ++i) {
    char h = header[i], k = key_rest[i];
    if (k == '_') {
      if (h != '-' && h != '_') return false;
      continue;
    }
    if (h == '-') return false;
    if (h != k && (h | 0x20) != (k | 0x20)) return false;
  }
  return true;
}

} // namespace

std::optional<std::string_view> Env::header(std::string_view name) const noexcept {
  for (const RequestHeader& h : headers_)
    if (iequals(h.name, name)) return h.value;
  return std::nullopt;
}

std::optional<std::string_view> Env::header_joined(std::string_view rest) const {
  const RequestHeader* first = nullptr;
  std::string* joined = nullptr;
  for (const RequestHeader& h : headers_) {
    if (!http_key_names(h.name, rest)) continue;
    if (!first) {
      first = &h;
      continue;
    }
    if (!joined) {
      owned_.emplace_front(first->value);
      joined = &owned_.front();
    }
    joined->append(iequals(h.name, "cookie") ? "; " : ", ");
    joined->append(h.value);
  }
  if (joined) return std::string_view(*joined);
  if (first) return first->value;
  return std::nullopt;
}

std::optional<std::string_view> Env::find(std::string_view key) const {
  if (key.starts_with("HTTP_")) {
    // Rack: CONTENT_TYPE and CONTENT_LENGTH are not HTTP_ keys, but a lookup still finds them.
    return header_joined(key.substr(5));
  }
  if (key == "REQUEST_METHOD") return method_;
  if (key == "PATH_INFO") return path_;
  if (key == "SCRIPT_NAME") return script_name_;
  if (key == "QUERY_STRING") return query_;
  if (key == "SERVER_NAME") return server_name_;
  if (key == "SERVER_PORT") return server_port_;
  if (key == "SERVER_PROTOCOL") return protocol_;
  if (key == "REQUEST_URI") return target_;
  if (key == "REMOTE_ADDR") return remote_addr();
  if (key == "CONTENT_TYPE") return header("content-type");
  if (key == "CONTENT_LENGTH") return header("content-length");
  if (key == "lithe.input") return body_;
  if (key == "lithe.url_scheme") return url_scheme_;
  for (const Extra& e : extras_) {
    if (e.key.view() != key) continue;
    if (e.object.has_value()) return std::nullopt; // a typed value: use env.get<T>(key)
    return e.text.view();
  }
  return std::nullopt;
}

std::string_view Env::operator[](std::string_view key) const {
  return find(key).value_or("");
}

Env::Extra& Env::extra_slot(Str key) {
  for (Extra& e : extras_)
    if (e.key.view() == key.view()) return e;
  return extras_.emplace_back(Extra{std::move(key), Str(), std::any()});
}

void Env::set(Str key, Str value) {
  Extra& e = extra_slot(std::move(key));
  e.text = std::move(value);
  e.object.reset();
}

bool Env::erase(std::string_view key) {
  return extras_.erase_if([key](const Extra& e) { return e.key.view() == key; }) > 0;
}

std::optional<std::string_view> Env::param(std::string_view name) const noexcept {
  for (const Param& p : params_)
    if (p.name.view() == name) return p.value.view();
  return std::nullopt;
}

std::string_view Env::keep(std::string s) {
  owned_.push_front(std::move(s));
  return owned_.front();
}

std::string& Env::keep_string() {
  owned_.emplace_front();
  return owned_.front();
}

Loop& Env::loop() const noexcept {
  return *ex_->loop();
}

AsyncCallback Env::async_callback() {
  return AsyncCallback(ex_);
}

void Env::on_close(Function<void(CloseReason)> fn) {
  if (ex_) ex_->add_close_hook(std::move(fn));
}

bool Env::abandon(CloseReason why, Response instead) {
  return ex_ && ex_->abandon(why, std::move(instead));
}

void Env::on_finished(Function<void(Env&, const Outcome&)> fn) {
  if (ex_) ex_->add_finish_hook(std::move(fn));
}

Response Env::then(Response r, Function<Response(Env&, Response)> fn) {
  if (!r.is_async()) return fn(*this, std::move(r));
  if (ex_) ex_->add_filter(std::move(fn));
  return r;
}

std::string Env::tls_info(std::string_view name) const {
  if (ex_ && ex_->sink() && ex_->home().in_loop_thread()) return ex_->sink()->tls_info(*ex_, name);
  return {};
}

std::string_view Env::peer_address() const noexcept {
  if (ex_ && ex_->sink()) remote_addr_ = ex_->sink()->peer_address(*ex_);
  if (!remote_addr_.data()) remote_addr_ = std::string_view("", 0); // asked once: not again
  return remote_addr_;
}

void Env::error(std::string_view message) const {
  if (ex_ && ex_->sink())
    ex_->sink()->log_error(*ex_, message);
  else
    log_error(message);
}

} // namespace lithe

namespace lithe::detail {

namespace {

// Host: "example.org", "example.org:8080", "[::1]:8080" → name and port.
void split_host(std::string_view host, std::string_view& name, std::string_view& port) noexcept {
  std::size_t colon = std::string_view::npos;
  if (!host.empty() && host.front() == '[') {
    std::size_t close = host.find(']');
    if (close != std::string_view::npos && close + 1 < host.size() && host[close + 1] == ':')
      colon = close + 1;
  } else {
    colon = host.rfind(':');
  }
  if (colon == std::string_view::npos) {
    name = host;
    return;
  }
  name = host.substr(0, colon);
  if (colon + 1 < host.size()) port = host.substr(colon + 1);
}

} // namespace

void Exchange::set_request(const Request& r) {
  Env& e = env;
  e.method_ = r.method;
  e.target_ = r.target;
  e.protocol_ = r.protocol;
  e.url_scheme_ = r.scheme;
  e.remote_addr_ = r.remote_addr;
  e.body_ = r.body;
  e.script_name_ = {};
  std::string_view t = r.target;
  // absolute-form (RFC 9112 §3.2.2): skip "scheme://authority".
  if (std::size_t sep = t.find("://"); sep != std::string_view::npos && t.front() != '/') {
    std::size_t slash = t.find_first_of("/?", sep + 3);
    t = slash == std::string_view::npos ? std::string_view() : t.substr(slash);
  }
  std::size_t hash = t.find('#');
  if (hash != std::string_view::npos) t = t.substr(0, hash);
  std::size_t q = t.find('?');
  e.path_ = t.substr(0, q);
  e.query_ = q == std::string_view::npos ? std::string_view() : t.substr(q + 1);
  if (e.path_.empty() && !(t == "*")) e.path_ = "/";
  std::string_view name, port = r.default_port;
  if (auto host = e.header("host"); host && !host->empty()) split_host(*host, name, port);
  if (name.empty()) name = "localhost";
  if (port.empty()) port = r.scheme == "https" ? "443" : "80";
  e.server_name_ = name;
  e.server_port_ = port;
}

void Exchange::relocate(const char* from, std::size_t len, const char* to) noexcept {
  auto move = [&](std::string_view& v) {
    if (v.data() >= from && v.data() + v.size() <= from + len && !v.empty())
      v = std::string_view(to + (v.data() - from), v.size());
  };
  Env& e = env;
  for (std::string_view* v :
       {&e.method_, &e.script_name_, &e.path_, &e.query_, &e.target_, &e.server_name_,
        &e.server_port_, &e.protocol_, &e.url_scheme_, &e.body_})
    move(*v);
  for (RequestHeader& h : e.headers_) {
    move(h.name);
    move(h.value);
  }
  for (Env::Param& p : e.params_) {
    if (!p.value.borrowed()) continue;
    std::string_view v = p.value.view();
    move(v);
    p.value = Str::borrow(v);
  }
}

} // namespace lithe::detail
