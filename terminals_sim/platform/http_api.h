#pragma once
// The simulated platform's HTTP side (cpp-httplib), loopback by default:
//   GET  /healthz                  status JSON: cards, feed version, link counters, gateways seen
//   GET  /cardlist/snapshot        the signed snapshot at the current version
//   GET  /cardlist/delta?from=N    the signed delta N -> N+1; 204 when N is current; 404 when
//                                  N is not a version this platform had (take the snapshot)
//   POST /cardlist/advance?count=K make K new versions (tests drive list changes with it)
// The feed endpoints answer 503 when no feed key was given.

#include <memory>
#include <string>

#include "gateway/core/result.h"
#include "terminals_sim/platform/feed_publisher.h"
#include "terminals_sim/platform/platform_cards.h"
#include "terminals_sim/platform/platform_service.h"

namespace spdlog {
class logger;
}

namespace yktgw::platform {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 7180;           // 0: any free port
  std::string zmq_endpoint;  // shown in /healthz
};

// Parses "host:port" (the --http value).
Result<HttpOptions> parse_http_address(const std::string& text);

class PlatformHttp {
 public:
  // Binds and starts serving on a thread of its own. `feed` may be null. Everything passed in
  // must outlive the server.
  static Result<std::unique_ptr<PlatformHttp>> start(HttpOptions options, PlatformCards& cards,
                                                     const PlatformService& service,
                                                     FeedPublisher* feed, const Clock& clock,
                                                     std::shared_ptr<spdlog::logger> log);
  ~PlatformHttp();
  PlatformHttp(const PlatformHttp&) = delete;
  PlatformHttp& operator=(const PlatformHttp&) = delete;

  int port() const;
  void stop();

 private:
  struct Impl;
  explicit PlatformHttp(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace yktgw::platform
