#pragma once
// The terminal side of the gateway: a transport that delivers terminal messages and carries
// replies back. The MQTT connector (connectors/mqtt) implements it; tests use a fake.

#include <cstdint>
#include <functional>
#include <string>

#include "gateway/core/result.h"

namespace yktgw {

struct InboundMessage {
  std::string topic;
  std::string payload;
  std::string response_topic;    // MQTT v5 property; empty when absent
  std::string correlation_data;  // MQTT v5 property, binary; meaningful only with response_topic
  bool has_correlation = false;
  std::int64_t received_ms = 0;
};

struct OutboundMessage {
  std::string topic;
  std::string payload;
  std::string correlation_data;
  bool has_correlation = false;
  bool retained = false;
};

enum class PublishStatus : std::uint8_t { ok, backpressure, disconnected, error };

class TerminalLink {
 public:
  // Called on the transport's own thread: it must never block (handing the message on, or work
  // that cannot wait on anything, such as a local authorization decision).
  using InboundHandler = std::function<void(InboundMessage&&)>;

  virtual ~TerminalLink() = default;
  // Connects (retrying in the background) and subscribes; messages flow to `handler`.
  virtual Result<void> start(InboundHandler handler) = 0;
  // QoS 1 publish; never blocks on the network. Backpressure is a value, not an exception.
  virtual PublishStatus publish(OutboundMessage msg) = 0;
  // Stops delivering new messages to the handler (they stay unacknowledged at the application
  // level, so terminals resend them).
  virtual void stop_intake() = 0;
  // Waits up to `timeout_ms` for queued publishes to go out, then disconnects cleanly.
  virtual void stop(int timeout_ms) = 0;
  virtual bool connected() const = 0;
  // Connected and every subscription granted: requests published from now on reach us.
  virtual bool serving() const { return connected(); }
};

}  // namespace yktgw
