#pragma once
// The operator status server: read-only pages, JSON API and /metrics over HTTP (cpp-httplib,
// kept out of this header). It reads the gateway only through StatusSource.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "gateway/config/config.h"
#include "gateway/core/result.h"
#include "gateway/status/http_guard.h"
#include "gateway/status/status_source.h"

namespace spdlog {
class logger;
}

namespace yktgw::status {

struct StatusServerOptions {
  ListenAddress listen;
  std::string token;  // empty: no token (loopback only)
  int threads = 4;
  // Debian's libjs-chart.js; served as /assets/chart.js so the pages need no internet access.
  std::string chartjs_file = "/usr/share/javascript/chart.js/chart.min.js";
  std::chrono::milliseconds depth_cache{5000};
  std::chrono::milliseconds sample_interval{1000};
  std::size_t series_capacity = 600;  // samples kept for the live charts
};

// From status.listen and status.token; refuses a non-loopback bind without a token. nullopt
// when status.listen is empty (no server).
Result<std::optional<StatusServerOptions>> status_server_options_from(const Config& config);

class StatusServer {
 public:
  // Binds (error "io" when the address is taken), then serves on its own threads. `source`
  // must outlive the server.
  static Result<std::unique_ptr<StatusServer>> start(StatusServerOptions options,
                                                     const StatusSource& source,
                                                     std::shared_ptr<spdlog::logger> log);
  ~StatusServer();
  StatusServer(const StatusServer&) = delete;
  StatusServer& operator=(const StatusServer&) = delete;

  int port() const;
  // Stops accepting, finishes the requests in progress, joins. Idempotent.
  void stop();

 private:
  struct Impl;
  explicit StatusServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace yktgw::status
