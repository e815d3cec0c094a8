#pragma once
// The MQTT terminal side over Eclipse Paho C++ (async client, MQTT v5). Paho stays behind this
// header: nothing here includes it.

#include <memory>
#include <string>
#include <vector>

#include "gateway/interfaces/terminal_link.h"

namespace spdlog {
class logger;
}

namespace yktgw::mqtt {

struct LinkOptions {
  std::string uri;  // tcp://, ssl://, mqtt://, mqtts://
  std::string client_id;
  std::string username;
  std::string password;
  int keepalive_s = 30;
  bool persistent_session = true;
  int session_expiry_s = 3600;
  int reconnect_min_ms = 250;
  int reconnect_max_ms = 30000;
  int max_buffered = 20000;
  int max_inflight = 65535;
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  bool tls_verify = true;
  std::vector<std::string> subscriptions;  // QoS 1 each
  // Retained presence of the gateway itself: "online" after each connect, "offline" as the
  // last will and on a clean stop. Empty: none.
  std::string presence_topic;
  std::string presence_online;
  std::string presence_offline;
};

class PahoTerminalLink final : public TerminalLink {
 public:
  PahoTerminalLink(LinkOptions options, std::shared_ptr<spdlog::logger> log);
  ~PahoTerminalLink() override;

  Result<void> start(InboundHandler handler) override;
  PublishStatus publish(OutboundMessage msg) override;
  void stop_intake() override;
  void stop(int timeout_ms) override;
  bool connected() const override;
  bool serving() const override;

  struct Stats {
    std::uint64_t connects = 0;
    std::uint64_t connection_losses = 0;
    std::uint64_t published = 0;
    std::uint64_t backpressure = 0;
  };
  Stats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace yktgw::mqtt
