// The registry of backends linked into the program (SPEC §10).
#include <lithe/backend.hpp>

namespace lithe {

std::vector<BackendInfo>& backends() {
  static std::vector<BackendInfo> list;
  return list;
}

std::unique_ptr<Backend> make_backend(std::string_view name) {
  for (const BackendInfo& b : backends())
    if (b.name == name) return b.make();
  return nullptr;
}

} // namespace lithe
