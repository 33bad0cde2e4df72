// ShowExceptions: catch, log, render.
#include <lithe/mw/show_exceptions.hpp>
#include <lithe/str.hpp>

#include <exception>
#include <string>

namespace lithe::mw {

namespace {

Response page(Env& env, std::string_view what, bool development) {
  env.error(std::string("exception: ") + std::string(what));
  std::string request = std::string(env.method()) + " " + std::string(env.target());
  bool html = env.header("accept").value_or("").find("text/html") != std::string_view::npos;
  if (html) {
    std::string body = "<!doctype html><title>500 Internal Server Error</title>"
                       "<h1>Internal Server Error</h1>";
    if (development)
      body += "<p><b>" + html_escape(what) + "</b></p><p>" + html_escape(request) + "</p>";
    return {500, {{"Content-Type", "text/html; charset=utf-8"}}, std::move(body)};
  }
  if (!development) return internal_server_error(); // the engine's own answer, word for word
  std::string body = "Internal Server Error\n" + std::string(what) + "\n" + request + "\n";
  return {500, {{"Content-Type", "text/plain; charset=utf-8"}}, std::move(body)};
}

} // namespace

Middleware show_exceptions(ShowExceptionsOptions options) {
  return [options](App next) -> App {
    return [options, next = std::move(next)](Env& env) -> Response {
      try {
        return next(env);
      } catch (const std::exception& e) {
        return page(env, e.what(), options.development);
      } catch (...) {
        return page(env, "unknown exception", options.development);
      }
    };
  };
}

} // namespace lithe::mw
