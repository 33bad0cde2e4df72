// Fuzzes the JSON module's bounded entry point (docs/json.md): any bytes, under small limits.
// A parse either fails with 400/413 and a reason, or yields a value no deeper than the limit
// whose serialisation parses back to the same value.
#include "fuzz_input.hpp"

#include <lithe/mw/json_body.hpp>

namespace {

[[noreturn]] void broken() {
  __builtin_trap();
}

std::size_t depth(const nlohmann::json& v) {
  if (!v.is_structured() || v.empty()) return v.is_structured() ? 1 : 0;
  std::size_t d = 0;
  for (const auto& e : v)
    d = std::max(d, depth(e));
  return d + 1;
}

} // namespace

// Input: one byte of limits (depth 1..16, bytes 64 KiB or a small cap), then the text.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  lithe::fuzz::FuzzInput in(data, size);
  std::uint8_t flags = in.byte();
  lithe::mw::JsonLimits limits{.max_bytes = (flags & 0x80) ? 64u : 64u * 1024,
                               .max_depth = 1u + (flags & 15)};
  std::string_view text = in.rest();
  lithe::mw::JsonResult r = lithe::mw::parse_json(text, limits);
  if (!r) {
    if (r.error.empty()) broken();
    if (r.status == 413 && text.size() <= limits.max_bytes) broken();
    if (r.status != 400 && r.status != 413) broken();
    return 0;
  }
  if (text.size() > limits.max_bytes || depth(r.value) > limits.max_depth) broken();
  std::string again = r.value.dump();
  lithe::mw::JsonResult back =
      lithe::mw::parse_json(again, {.max_bytes = again.size() + 1, .max_depth = limits.max_depth});
  if (!back || back.value != r.value) {
    // NaN never comes from JSON text, so equality holds for every parsed value.
    broken();
  }
  (void)lithe::mw::json_response(200, r.value);
  return 0;
}
