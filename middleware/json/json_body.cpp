// JSON bodies (RFC 8259) through nlohmann-json's SAX interface: a depth check on every level
// before the DOM builder descends, a size check before the parser starts.
#include <lithe/mw/json_body.hpp>

namespace lithe::mw {

namespace {

using json = nlohmann::json;

/// nlohmann's DOM builder with a depth limit: returning false from start_* stops the parse
/// before the level exists.
class BoundedSax : public nlohmann::detail::json_sax_dom_parser<json> {
  using Base = nlohmann::detail::json_sax_dom_parser<json>;

public:
  BoundedSax(json& root, std::size_t max_depth) : Base(root, false), max_(max_depth) {}
  bool start_object(std::size_t n) { return deeper() && Base::start_object(n); }
  bool end_object() {
    --depth_;
    return Base::end_object();
  }
  bool start_array(std::size_t n) { return deeper() && Base::start_array(n); }
  bool end_array() {
    --depth_;
    return Base::end_array();
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) {
    position_ = position;
    message_ = e.what();
    return false;
  }
  bool too_deep() const noexcept { return too_deep_; }
  std::size_t position() const noexcept { return position_; }
  const std::string& message() const noexcept { return message_; }

private:
  bool deeper() {
    if (++depth_ <= max_) return true;
    too_deep_ = true;
    return false;
  }
  std::size_t max_, depth_ = 0, position_ = 0;
  bool too_deep_ = false;
  std::string message_;
};

JsonResult failed(int status, std::string why) {
  JsonResult r;
  r.status = status;
  r.error = std::move(why);
  return r;
}

bool has_body(Env& env) {
  return env.input().length().value_or(0) > 0 || !env.body().empty() ||
         env.header("transfer-encoding").has_value();
}

Response run(const App& next, Env& env) {
  try {
    return next(env);
  } catch (...) {
    env.error("json_body: the app threw");
    return internal_server_error();
  }
}

} // namespace

JsonResult parse_json(std::string_view text, const JsonLimits& limits) {
  if (text.size() > limits.max_bytes)
    return failed(413, "JSON body larger than " + std::to_string(limits.max_bytes) + " bytes");
  JsonResult r;
  BoundedSax sax(r.value, limits.max_depth);
  bool ok = false;
  try { // the builder throws only for sizes past max_size(); nothing leaves this function
    ok = json::sax_parse(text.begin(), text.end(), &sax, json::input_format_t::json, true, false);
  } catch (...) {
    ok = false;
  }
  if (ok) return r;
  if (sax.too_deep())
    return failed(400, "JSON nested deeper than " + std::to_string(limits.max_depth) + " levels");
  std::string m = sax.message();
  if (std::size_t close = m.find("] "); m.starts_with("[json.exception.") && close != m.npos)
    m.erase(0, close + 2);
  if (m.size() > 200) m.resize(200); // it quotes the input; json_response repairs a cut UTF-8
  if (m.empty()) m = "malformed";
  return failed(400, "malformed JSON at byte " + std::to_string(sax.position()) + ": " + m);
}

Response json_response(int status, const nlohmann::json& value, Headers headers) {
  headers.set("Content-Type", "application/json");
  return {status, std::move(headers), value.dump(-1, ' ', false, json::error_handler_t::replace)};
}

Response json_error(const JsonResult& result) {
  return json_response(result.status ? result.status : 400, json{{"error", result.error}});
}

bool is_json_type(std::string_view type) noexcept {
  type = type.substr(0, type.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t'))
    type.remove_suffix(1);
  if (iequals(type, "application/json")) return true;
  std::size_t slash = type.find('/');
  return slash != std::string_view::npos && slash > 0 && type.size() > slash + 6 &&
         iequals(type.substr(type.size() - 5), "+json");
}

void read_json(Env& env, JsonLimits limits, Function<void(JsonResult)> done) {
  env.input().read_all(
      limits.max_bytes, [&env, limits, done = std::move(done)](InputError e) mutable {
        if (e == InputError::too_large)
          done(failed(413, "JSON body larger than " + std::to_string(limits.max_bytes) + " bytes"));
        else if (e == InputError::none)
          done(parse_json(env.body(), limits));
      });
}

Middleware json_body(JsonBodyOptions o) {
  return [o](App next) -> App {
    return [o, next = std::move(next)](Env& env) -> Response {
      if (!is_json_type(env.content_type())) {
        if (o.require_json && has_body(env))
          return json_error(failed(415, "expected a JSON body (application/json)"));
        return next(env);
      }
      if (!env.input().streaming()) {
        JsonResult r = parse_json(env.body(), o.limits);
        if (!r) return json_error(r);
        env.emplace<nlohmann::json>("json.body", std::move(r.value));
        return next(env);
      }
      AsyncCallback cb = env.async_callback();
      read_json(env, o.limits, [&env, cb, next](JsonResult r) {
        Response out;
        if (!r) {
          out = json_error(r);
        } else {
          env.emplace<nlohmann::json>("json.body", std::move(r.value));
          out = run(next, env);
        }
        if (!out.is_async()) cb(std::move(out));
      });
      return lithe::async;
    };
  };
}

const nlohmann::json* request_json(Env& env) {
  return env.get<nlohmann::json>("json.body");
}

} // namespace lithe::mw
