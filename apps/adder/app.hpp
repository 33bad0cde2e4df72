// lithe-adder's app: Skinny's example, a WebSocket speaking the "adder" subprotocol on
// /adder: a message of numbers separated by spaces is answered with their sum; anything else
// with an error message. The page at / talks to it.
#pragma once

#include <lithe/mw/router.hpp>

#include <charconv>
#include <cstdio>
#include <string>

namespace adder {

/// "1 2 3.5" -> "6.5"; nullopt when a word is not a number.
inline std::optional<std::string> sum(std::string_view text) {
  double total = 0;
  bool any = false;
  while (!text.empty()) {
    std::size_t sp = text.find(' ');
    std::string_view word = text.substr(0, sp);
    text = sp == std::string_view::npos ? std::string_view{} : text.substr(sp + 1);
    if (word.empty()) continue;
    double v = 0;
    auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), v);
    if (ec != std::errc() || end != word.data() + word.size()) return std::nullopt;
    total += v;
    any = true;
  }
  if (!any) return std::nullopt;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15g", total);
  return std::string(buf);
}

inline lithe::mw::Router app() {
  lithe::mw::Router r;
  r.websocket("/adder", {.protocols = {"adder"},
                         .require_protocol = true,
                         .on_message = [](lithe::mw::WebSocket& ws, std::string_view text) {
                           if (auto s = sum(text))
                             ws.send(*s);
                           else
                             ws.send("error: send numbers separated by spaces");
                         }});
  r.get("/", [](lithe::Env&) -> lithe::Response {
    return {200, {{"Content-Type", "text/html; charset=utf-8"}}, R"(<!doctype html>
<title>adder</title>
<input id=n value="1 2 3"> <button id=go>add</button> <output id=out></output>
<script>
const ws = new WebSocket(`ws://${location.host}/adder`, ['adder']);
ws.onmessage = (e) => { document.getElementById('out').textContent = e.data; };
document.getElementById('go').onclick = () => ws.send(document.getElementById('n').value);
</script>
)"};
  });
  return r;
}

} // namespace adder
