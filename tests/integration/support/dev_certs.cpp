// Test support: scripts/dev-cert run once per process into a temporary directory.
#include "dev_certs.hpp"

#include "net_client.hpp"

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace lithe::test {

namespace {

namespace fs = std::filesystem;

// The temporary directory, removed when the process ends.
struct TempRoot {
  std::string path;
  TempRoot() {
    std::string t = (fs::temp_directory_path() / "lithe-certs-XXXXXX").string();
    if (!::mkdtemp(t.data())) throw std::runtime_error("mkdtemp failed");
    path = t;
  }
  ~TempRoot() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

const std::string& root() {
  static TempRoot r;
  return r.path;
}

DevCerts make(const std::string& name, const std::string* ca_from) {
  std::string dir = root() + "/" + name;
  fs::create_directories(dir);
  if (ca_from) { // dev-cert keeps a CA it finds, so both sets chain to one
    fs::copy_file(*ca_from + "/ca.pem", dir + "/ca.pem");
    fs::copy_file(*ca_from + "/ca.key", dir + "/ca.key");
    fs::copy_file(*ca_from + "/intermediate.pem", dir + "/intermediate.pem");
    fs::copy_file(*ca_from + "/intermediate.key", dir + "/intermediate.key");
  }
  ProcessResult r =
      run_process({"bash", std::string(LITHE_SOURCE_DIR) + "/scripts/dev-cert", dir, name}, 30s);
  if (r.exit_code != 0) throw std::runtime_error("scripts/dev-cert failed: " + r.err);
  return {dir,
          dir + "/ca.pem",
          dir + "/cert.pem",
          dir + "/key.pem",
          dir + "/rsa-cert.pem",
          dir + "/rsa-key.pem"};
}

} // namespace

const DevCerts& dev_certs() {
  static const DevCerts certs = make("a.test", nullptr);
  return certs;
}

const DevCerts& other_dev_certs() {
  static const DevCerts certs = make("b.test", &dev_certs().dir);
  return certs;
}

std::string scratch_dir() {
  static int serial = 0;
  std::string dir = root() + "/scratch-" + std::to_string(serial++);
  fs::create_directories(dir);
  return dir;
}

} // namespace lithe::test
