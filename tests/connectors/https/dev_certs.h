#pragma once
// Development certificates for HTTPS tests, made once per test process by the same script
// operators use (deploy/make-dev-certs.sh), in a temporary directory removed at exit.

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace yktgw::testing {

struct DevCerts {
  std::string dir;
  std::string ca;  // the CA that signed server and client certificates
  std::string server_cert;
  std::string server_key;
  std::string client_cert;
  std::string client_key;
  std::string expired_cert;
  std::string expired_key;
  std::string other_ca;  // an unrelated CA
};

inline const DevCerts& dev_certs() {
  static const DevCerts certs = [] {
    namespace fs = std::filesystem;
    static std::string dir =
        (fs::temp_directory_path() / ("yktgw-dev-certs-" + std::to_string(::getpid()))).string();
    const std::string cmd = "bash '" + std::string(YKTGW_SOURCE_DIR) +
                            "/deploy/make-dev-certs.sh' '" + dir + "' gw1 >/dev/null";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("make-dev-certs.sh failed");
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(dir, ec);
    });
    DevCerts c;
    c.dir = dir;
    c.ca = dir + "/ca.pem";
    c.server_cert = dir + "/server.pem";
    c.server_key = dir + "/server.key";
    c.client_cert = dir + "/client.pem";
    c.client_key = dir + "/client.key";
    c.expired_cert = dir + "/client-expired.pem";
    c.expired_key = dir + "/client-expired.key";
    c.other_ca = dir + "/other-ca.pem";
    return c;
  }();
  return certs;
}

}  // namespace yktgw::testing
