// Fuzzes the Basic credentials parser (docs/basic_auth.md): any Authorization value. What it
// accepts has a user without ':' and no control characters, and re-encodes to a token that
// decodes to the same credentials; the middleware answers 200, 400 or 401, never anything else.
#include "fuzz_input.hpp"

#include <lithe/lithe.hpp>
#include <lithe/mw/basic_auth.hpp>

#include <string>

namespace {

using namespace lithe;

[[noreturn]] void broken() {
  __builtin_trap();
}

std::string base64(std::string_view in) {
  static const char* abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < in.size(); i += 3) {
    unsigned n = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) n |= static_cast<unsigned char>(in[i + 1]) << 8;
    if (i + 2 < in.size()) n |= static_cast<unsigned char>(in[i + 2]);
    out += abc[n >> 18 & 63];
    out += abc[n >> 12 & 63];
    out += i + 1 < in.size() ? abc[n >> 6 & 63] : '=';
    out += i + 2 < in.size() ? abc[n & 63] : '=';
  }
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view value(reinterpret_cast<const char*>(data), size);
  mw::BasicCredentials c;
  mw::BasicParse p = mw::parse_basic(value, c, 512);
  if (p == mw::BasicParse::ok) {
    if (c.user.find(':') != std::string::npos) broken();
    for (char ch : c.user + c.password)
      if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) broken();
    mw::BasicCredentials again;
    if (mw::parse_basic("Basic " + base64(c.user + ":" + c.password), again, 4096) !=
            mw::BasicParse::ok ||
        again.user != c.user || again.password != c.password)
      broken();
  } else if (p == mw::BasicParse::too_large && size <= 512) {
    broken();
  }
  std::string header = lithe::fuzz::header_value(value);
  MockRequest m(
      mw::basic_auth({.users = {{"user", "pass"}}, .max_header_bytes = 512})([](Env&) -> Response {
        return {200, {}, "in"};
      }));
  int status = m.get("/", {.headers = {{"Authorization", header}}}).status;
  if (status != 200 && status != 400 && status != 401) broken();
  return 0;
}
