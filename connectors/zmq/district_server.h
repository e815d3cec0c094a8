#pragma once
// The platform's end of the district link: a ROUTER socket, CURVE server. Used by
// ykt-platform-sim and by tests that play the platform. One thread owns it: receive() and
// send() must be called from the same thread. cppzmq stays behind this header.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "connectors/zmq/curve_keys.h"
#include "connectors/zmq/district_protocol.h"
#include "gateway/core/result.h"

namespace spdlog {
class logger;
}

namespace yktgw::district {

struct DistrictServerOptions {
  // Where to listen, e.g. tcp://127.0.0.1:7100; tcp://127.0.0.1:* picks a free port.
  std::string endpoint;
  CurveKeyPair server_keys;
  int queue_limit = 100'000;  // messages per peer in each direction
};

// One message from a gateway. `peer` is the ROUTER's routing id of the connection: opaque
// bytes, good for answering and for telling connections apart, not a gateway's identity.
struct PeerMessage {
  std::string peer;
  Envelope envelope;
};

class DistrictServer {
 public:
  static Result<std::unique_ptr<DistrictServer>> bind(DistrictServerOptions options,
                                                      std::shared_ptr<spdlog::logger> log);
  ~DistrictServer();
  DistrictServer(const DistrictServer&) = delete;
  DistrictServer& operator=(const DistrictServer&) = delete;

  // The endpoint actually bound (the port filled in when it was '*').
  const std::string& endpoint() const;

  // Waits up to `timeout` for one well-formed message; nullopt when none came. Malformed
  // messages are counted, logged (rate-limited) and skipped. An error means the socket is
  // unusable.
  Result<std::optional<PeerMessage>> receive(std::chrono::milliseconds timeout);

  // False when the peer is gone or its queue is full; the message is dropped then (the gateway
  // times the request out).
  bool send(const std::string& peer, const Envelope& envelope);

  struct Stats {
    std::uint64_t received = 0;
    std::uint64_t malformed = 0;
    std::uint64_t sent = 0;
    std::uint64_t send_failures = 0;
    std::uint64_t handshakes = 0;
    std::uint64_t handshake_failures = 0;
  };
  Stats stats() const;

 private:
  struct Impl;
  explicit DistrictServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace yktgw::district
