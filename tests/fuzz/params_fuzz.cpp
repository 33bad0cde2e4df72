// Fuzzes the params decoder (middleware/include/lithe/mw/params.hpp): a query string or form
// body decoded into Rack's nested tree under input-chosen limits. Checks: the limits hold (pairs,
// bytes, depth of the tree); a form decoded without error gives each plain name its last value;
// every lookup by a name of the input, and a walk of the whole tree, stay in bounds.
#include "fuzz_input.hpp"

#include <lithe/mw/params.hpp>

#include <map>
#include <string>

namespace {

using namespace lithe::mw;

std::size_t depth(Param p, std::size_t& nodes) {
  ++nodes;
  std::size_t d = 0;
  for (Param c : p)
    d = std::max(d, depth(c, nodes));
  std::size_t n = 0;
  for (Param c : p) {
    (void)c;
    ++n;
  }
  if (n != p.size()) __builtin_trap();
  return d + 1;
}

} // namespace

// Input: a choice byte (bit 0: small limits), the limits, then the form.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  lithe::fuzz::FuzzInput in(data, size);
  std::uint8_t choice = in.byte();
  ParamsOptions o;
  if (choice & 1) {
    o.max_params = in.byte();
    o.max_depth = in.byte() % 40;
    o.max_field_bytes = in.u16();
  }
  std::string_view form = in.rest();
  Params p;
  ParamsError e = p.body().add_form(form, o);
  if (p.body().count() > o.max_params) __builtin_trap();
  if (p.body().bytes() > o.max_field_bytes) __builtin_trap();
  std::size_t nodes = 0;
  if (depth(p.body().root(), nodes) > o.max_depth + 2) __builtin_trap();

  std::map<std::string, std::string> last; // plain names' last values
  std::string n, v;
  for_each_form_pair(form, [&](std::string_view name, std::string_view value) {
    std::string key(form_decode(name, n));
    std::string val(form_decode(value, v));
    (void)p.get(key);
    (void)p.all(key);
    (void)p.file(key);
    if (!key.empty() && key.find_first_of("[]") == std::string::npos) last[key] = val;
    return true;
  });
  (void)p.names();
  if (e == ParamsError::none)
    for (const auto& [key, val] : last)
      if (p.get(key) != std::optional<std::string_view>(val)) __builtin_trap();
  return 0;
}
