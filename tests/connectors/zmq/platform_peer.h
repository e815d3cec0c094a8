#pragma once
// The simulated district platform run inside a test process: the real ROUTER (DistrictServer)
// and the real answers (PlatformService, and DistrictBatchReceiver for batches when given) on a
// loopback port, startable and stoppable on the same endpoint so tests can take the platform
// away and bring it back, or pause it (socket open, nothing read) to let queues fill.

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "connectors/zmq/curve_keys.h"
#include "connectors/zmq/district_server.h"
#include "gateway/crypto/card_tokenizer.h"
#include "terminals_sim/platform/district_loop.h"
#include "terminals_sim/platform/platform_cards.h"
#include "terminals_sim/platform/platform_service.h"
#include "terminals_sim/sim/population.h"

namespace yktgw::testing {

inline std::shared_ptr<spdlog::logger> quiet_logger(const std::string& name) {
  return std::make_shared<spdlog::logger>(name, std::make_shared<spdlog::sinks::null_sink_mt>());
}

inline CardTokenizer test_tokenizer() {
  return std::move(CardTokenizer::create(std::string(32, 'k')).value());
}

class PlatformPeer {
 public:
  PlatformPeer(const sim::Population& population, district::CurveKeyPair keys,
               platform::ServiceOptions options = {}, int queue_limit = 100'000)
      : queue_limit_(queue_limit),
        keys_(std::move(keys)),
        tokenizer_(test_tokenizer()),
        cards_(population, tokenizer_, 42, clock_.wall_ms()),
        service_(cards_, options, clock_) {}
  ~PlatformPeer() { stop(); }

  // Binds (a free port the first time, the same endpoint after that) and serves on a thread.
  bool start() {
    const std::string where = endpoint_.empty() ? "tcp://127.0.0.1:*" : endpoint_;
    // Rebinding a port just released can race the kernel for a moment.
    for (int attempt = 0; attempt < 50; ++attempt) {
      auto server =
          district::DistrictServer::bind({where, keys_, queue_limit_}, quiet_logger("srv"));
      if (server) {
        server_ = std::move(*server);
        endpoint_ = server_->endpoint();
        serve();
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  void stop() {
    pause();
    server_.reset();  // closes the socket: gateways see the connection drop
  }

  // Stops reading and answering but keeps the socket open: the connection stays, nothing moves.
  void pause() {
    if (!thread_.joinable()) return;
    stop_.store(true);
    thread_.join();
  }
  void resume() {
    if (server_ && !thread_.joinable()) serve();
  }

  // Batches and the down/up schedule for the next start() or resume(); `batches` must outlive
  // the serving thread.
  void set_loop_options(platform::DistrictLoopOptions options) { loop_ = options; }

  const std::string& endpoint() const { return endpoint_; }
  const std::string& public_key() const { return keys_.public_key; }
  const CardTokenizer& tokenizer() const { return tokenizer_; }
  platform::PlatformService& service() { return service_; }
  platform::PlatformCards& cards() { return cards_; }
  district::DistrictServer* server() { return server_.get(); }

 private:
  void serve() {
    stop_.store(false);
    thread_ = std::thread([this] {
      auto log = quiet_logger("loop");
      (void)platform::serve_district(*server_, service_, nullptr, stop_, *log, loop_);
    });
  }

  int queue_limit_;
  platform::DistrictLoopOptions loop_;
  SystemClock clock_;
  district::CurveKeyPair keys_;
  CardTokenizer tokenizer_;
  platform::PlatformCards cards_;
  platform::PlatformService service_;
  std::unique_ptr<district::DistrictServer> server_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::string endpoint_;
};

}  // namespace yktgw::testing
