// ShowExceptions (Rack::ShowExceptions): an exception from the app becomes a 500 page, HTML
// or plain text by the request's Accept header; the exception's message and the request are
// shown only with `development` set. Logged either way; the worker never dies.
#pragma once

#include <lithe/app.hpp>

namespace lithe::mw {

struct ShowExceptionsOptions {
  bool development = false;
};

Middleware show_exceptions(ShowExceptionsOptions options = {});

} // namespace lithe::mw
