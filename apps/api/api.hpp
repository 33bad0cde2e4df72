// lithe-api: a small todo service built from the request layer (issue #18). A login form sets
// a signed session cookie (mw::session), forms and the page's script carry a CSRF token
// (mw::csrf), the JSON API (GET/POST/PATCH/DELETE /todos) parses bodies within limits
// (lithe::json), cross-origin reads are allowed from one --origin (mw::cors), logins are
// rate-limited per client address (mw::rate_limit), and an avatar arrives as a multipart
// upload streamed to a temporary file (mw::params).
#pragma once

#include "page.hpp"
#include "todos.hpp"

#include <lithe/builder.hpp>
#include <lithe/lithe.hpp>
#include <lithe/mw/cors.hpp>
#include <lithe/mw/csrf.hpp>
#include <lithe/mw/json_body.hpp>
#include <lithe/mw/params.hpp>
#include <lithe/mw/rate_limit.hpp>
#include <lithe/mw/router.hpp>
#include <lithe/mw/session.hpp>

#include <charconv>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace api {

struct Config {
  std::vector<std::pair<std::string, std::string>> users; // {name, password}
  std::vector<std::string> secrets;                       // session keys, 32 bytes or more
  std::string origin;                                     // a cross-origin reader, or ""
  double login_rate = 0.2;                                // login attempts per second
  double login_burst = 5;                                 // ... at once, per client address
};

/// Whether `user` and `password` are one of `users`, in time that does not depend on where
/// they differ.
bool password_ok(const std::vector<std::pair<std::string, std::string>>& users,
                 std::string_view user, std::string_view password);

inline lithe::Response json_message(int status, std::string_view error) {
  return lithe::mw::json_response(status, {{"error", error}});
}

inline std::optional<std::string> logged_in(lithe::Env& env) {
  if (auto u = lithe::mw::session(env).get("user")) return std::string(*u);
  return std::nullopt;
}

inline std::optional<long> todo_id(lithe::Env& env) {
  std::string_view s = env.param("id").value_or("");
  long id = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return id;
}

inline lithe::App app(Todos& todos, const Config& config) {
  using lithe::Env;
  using lithe::Response;
  namespace mw = lithe::mw;
  const Limits limits = todos.limits();
  mw::Router r;
  auto see_other = [](std::string where) -> Response {
    return {303, {{"Location", std::move(where)}, {"Content-Type", "text/plain"}}, ""};
  };
  auto html = [](int status, std::string body) -> Response {
    return {status,
            {{"Content-Type", "text/html; charset=utf-8"}, {"Cache-Control", "no-store"}},
            std::move(body)};
  };

  r.get("/", [html](Env& env) -> Response {
    std::string token = mw::csrf_token(env);
    if (auto user = logged_in(env)) return html(200, todo_page(token, *user));
    return html(200, login_page(token, ""));
  });
  r.post("/login", [html, see_other, users = config.users](Env& env) -> Response {
    std::string_view user = env.param("user").value_or("");
    std::string_view password = env.param("password").value_or("");
    if (!password_ok(users, user, password))
      return html(401, login_page(mw::csrf_token(env), "Wrong user or password."));
    mw::Session& s = mw::session(env);
    s.renew(); // a new id once logged in: a planted session id is worth nothing
    s.set("user", user);
    return see_other("/");
  });
  r.post("/logout", [see_other](Env& env) -> Response {
    mw::session(env).clear();
    return see_other("/");
  });

  // The JSON API: the session's user, a JSON body within 16 KiB where one is expected.
  auto with_json =
      mw::json_body({.limits = {.max_bytes = 16 << 10, .max_depth = 8}, .require_json = true});
  r.get("/todos", [&todos](Env& env) -> Response {
    auto user = logged_in(env);
    if (!user) return json_message(401, "log in first");
    return mw::json_response(200, todos.list(*user));
  });
  r.post("/todos", with_json([&todos, limits](Env& env) -> Response {
           auto user = logged_in(env);
           if (!user) return json_message(401, "log in first");
           const nlohmann::json* body = mw::request_json(env);
           if (!body || !body->is_object() || !body->contains("title") ||
               !(*body)["title"].is_string())
             return json_message(422, "a todo is {\"title\": \"...\"}");
           std::string title = (*body)["title"].get<std::string>();
           if (title.empty() || title.size() > limits.max_title)
             return json_message(422,
                                 "a title has 1 to " + std::to_string(limits.max_title) + " bytes");
           auto todo = todos.add(*user, std::move(title));
           if (!todo) return json_message(409, "the list is full");
           return mw::json_response(201, to_json(*todo));
         }));
  r.patch("/todos/:id", with_json([&todos, limits](Env& env) -> Response {
            auto user = logged_in(env);
            if (!user) return json_message(401, "log in first");
            auto id = todo_id(env);
            const nlohmann::json* body = mw::request_json(env);
            if (!id) return json_message(404, "no such todo");
            if (!body || !body->is_object())
              return json_message(422, "send {\"title\"?, \"done\"?}");
            auto title = body->find("title");
            auto done = body->find("done");
            if ((title != body->end() &&
                 (!title->is_string() || title->get_ref<const std::string&>().empty() ||
                  title->get_ref<const std::string&>().size() > limits.max_title)) ||
                (done != body->end() && !done->is_boolean()))
              return json_message(422, "title is a string of 1 to " +
                                           std::to_string(limits.max_title) +
                                           " bytes, done a boolean");
            auto todo = todos.update(*user, *id, [&](Todo& t) {
              if (title != body->end()) t.title = title->get<std::string>();
              if (done != body->end()) t.done = done->get<bool>();
            });
            if (!todo) return json_message(404, "no such todo");
            return mw::json_response(200, to_json(*todo));
          }));
  r.del("/todos/:id", [&todos](Env& env) -> Response {
    auto user = logged_in(env);
    if (!user) return json_message(401, "log in first");
    auto id = todo_id(env);
    if (!id || !todos.remove(*user, *id)) return json_message(404, "no such todo");
    return {204, {}, ""};
  });

  // The avatar: a multipart upload streamed to an unnamed temporary file, one image part.
  auto upload = mw::params({.max_file_bytes = limits.max_avatar,
                            .max_files_bytes = limits.max_avatar,
                            .max_files = 1,
                            .max_parts = 8});
  r.post("/avatar", upload([&todos](Env& env) -> Response {
           auto user = logged_in(env);
           if (!user) return json_message(401, "log in first");
           const mw::UploadedFile* f = mw::params(env).file("avatar");
           if (!f) return json_message(422, "send the image as the form field \"avatar\"");
           if (!f->content_type.starts_with("image/") ||
               f->content_type.find_first_of("\r\n;,") != std::string::npos)
             return json_message(415, "an avatar is an image/* file");
           todos.set_avatar(*user, {f->content_type, f->read()});
           return mw::json_response(201, {{"type", f->content_type}, {"size", f->size}});
         }),
         {.stream = true, .max_body = limits.max_avatar + (64 << 10)});
  r.get("/avatar", [&todos](Env& env) -> Response {
    auto user = logged_in(env);
    if (!user) return json_message(401, "log in first");
    auto a = todos.avatar(*user);
    if (!a)
      return {404, {{"Content-Type", "text/plain"}, {"Cache-Control", "no-store"}}, "no avatar\n"};
    return {200,
            {{"Content-Type", a->type},
             {"Cache-Control", "no-store"},
             {"X-Content-Type-Options", "nosniff"}},
            std::move(a->bytes)};
  });

  lithe::Builder b;
  if (!config.origin.empty())
    b.use(mw::cors({.origins = {config.origin},
                    .methods = {"GET", "POST", "PATCH", "DELETE"},
                    .headers = {"Content-Type", "X-CSRF-Token"},
                    .credentials = true}));
  // Logins count before anything else looks at them, so every guess spends a token.
  b.use(mw::rate_limit(
      {.rate = config.login_rate, .burst = config.login_burst, .counts = [](const Env& env) {
         return env.method() == "POST" && env.path() == "/login";
       }}));
  b.use(mw::session({.secrets = config.secrets}));
  b.use(mw::csrf());
  b.run(r);
  return b.to_app();
}

} // namespace api
