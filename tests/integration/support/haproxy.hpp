// Test support: Debian's haproxy in the foreground (-db), started by the test on a port of its
// own with a configuration the test writes, stopped by its pid (proxy_protocol_test,
// deploy_test).
#pragma once

#include "net_client.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace lithe::test {

class HaProxy {
public:
  /// `config(port)` is the whole haproxy.cfg, whose frontend binds 127.0.0.1:port. Waits
  /// (bounded) until haproxy accepts there; throws if it does not.
  explicit HaProxy(const std::function<std::string(std::uint16_t port)>& config);
  ~HaProxy();
  HaProxy(const HaProxy&) = delete;
  HaProxy& operator=(const HaProxy&) = delete;
  std::uint16_t port() const noexcept { return port_; }

private:
  std::uint16_t port_;
  std::string dir_;
  std::unique_ptr<Daemon> daemon_;
};

} // namespace lithe::test
