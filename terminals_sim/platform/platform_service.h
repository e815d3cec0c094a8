#pragma once
// What the simulated district platform answers on the ZeroMQ link, as plain functions of the
// message: no sockets here, so the decision logic is unit-tested without a network. The loop
// that owns the ROUTER socket (district_loop.h) applies the delays this returns.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "connectors/zmq/district_protocol.h"
#include "gateway/interfaces/clock.h"
#include "terminals_sim/platform/platform_cards.h"

namespace yktgw::platform {

struct ServiceOptions {
  std::chrono::milliseconds auth_delay{0};  // hold every AUTH_RESP this long (deadline tests)
  bool drop_heartbeats = false;             // never answer HEARTBEAT (link-down tests)
};

// One online authorization as the platform records it. Token only, never a card number.
struct AuthRecord {
  std::int64_t received_ms = 0;
  std::string req_id;
  std::string site;
  std::string terminal;
  std::string scenario;
  std::string card_token;
  Fen amount_fen = 0;
  OnlineAuthReply reply;
  bool operator==(const AuthRecord&) const = default;
};

struct Handled {
  std::optional<district::Envelope> reply;  // nullopt: nothing goes back
  std::chrono::milliseconds delay{0};       // send the reply this much later
  std::optional<AuthRecord> record;         // for the platform database
};

struct GatewaySeen {
  std::string gateway;
  std::int64_t last_heartbeat_ms = 0;
  std::uint64_t heartbeats = 0;
  bool operator==(const GatewaySeen&) const = default;
};

class PlatformService {
 public:
  PlatformService(const PlatformCards& cards, ServiceOptions options, const Clock& clock);

  Handled handle(const district::Envelope& in);

  struct Stats {
    std::uint64_t heartbeats = 0;
    std::uint64_t heartbeats_dropped = 0;
    std::uint64_t auth_requests = 0;
    std::uint64_t approved = 0;
    std::uint64_t declined = 0;
    std::uint64_t malformed = 0;
    std::uint64_t unsupported = 0;
  };
  Stats stats() const;  // thread-safe: read by the HTTP status endpoint
  std::vector<GatewaySeen> gateways() const;

 private:
  Handled heartbeat(const district::Envelope& in);
  Handled auth(const district::Envelope& in);

  const PlatformCards& cards_;
  ServiceOptions options_;
  const Clock& clock_;
  std::atomic<std::uint64_t> heartbeats_{0}, heartbeats_dropped_{0}, auth_requests_{0},
      approved_{0}, declined_{0}, malformed_{0}, unsupported_{0};
  mutable std::mutex gateways_mu_;
  std::map<std::string, GatewaySeen> gateways_;  // bounded below: a peer cannot grow it forever
};

}  // namespace yktgw::platform
