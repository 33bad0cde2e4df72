// The registry of backends linked into the program (SPEC §10).
#include <lithe/backend.hpp>

#include <algorithm>
#include <sys/resource.h>

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

namespace lithe {

std::size_t connections_per_worker(const ListenConfig& config) {
  if (config.max_connections > 0) return config.max_connections;
  rlimit lim{};
  std::size_t fds = 1024;
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY)
    fds = static_cast<std::size_t>(lim.rlim_cur);
  else if (lim.rlim_cur == RLIM_INFINITY)
    fds = std::size_t{1} << 20;
  std::size_t usable = fds > 128 ? fds - 64 : fds / 2;
  std::size_t workers = config.threads < 1 ? 1 : static_cast<std::size_t>(config.threads);
  return std::max<std::size_t>(1, usable / workers);
}

} // namespace lithe
