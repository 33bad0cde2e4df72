// Test support: haproxy started by a test (haproxy.hpp).
#include "haproxy.hpp"

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <unistd.h>

namespace lithe::test {

HaProxy::HaProxy(const std::function<std::string(std::uint16_t port)>& config)
    : port_(free_port()) {
  char tmpl[] = "/tmp/lithe-haproxy.XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  std::ofstream(dir_ + "/haproxy.cfg") << config(port_);
  daemon_ = std::make_unique<Daemon>(
      std::vector<std::string>{"haproxy", "-db", "-q", "-f", dir_ + "/haproxy.cfg"});
  if (!accepting(port_)) {
    daemon_.reset();
    std::filesystem::remove_all(dir_);
    throw std::runtime_error("haproxy did not accept on port " + std::to_string(port_));
  }
}

HaProxy::~HaProxy() {
  daemon_.reset();
  std::filesystem::remove_all(dir_);
}

} // namespace lithe::test
