// The one piece of JSON lithe writes itself: a quoted, escaped string (RFC 8259 §7). Used by
// CommonLogger's JSON lines and the chat demo's messages.
#pragma once

#include <string>
#include <string_view>

namespace lithe::mw {

/// Appends `s` to `out` as a JSON string literal, quotes included.
void append_json_string(std::string& out, std::string_view s);

} // namespace lithe::mw
