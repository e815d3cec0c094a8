#pragma once
// A platform the gateway forwards records to (district platform over ZeroMQ, cross-province
// platforms over HTTPS). A link only carries batches and reports what became of each; the
// core owns the outbox, retries with backoff, and dead letters. A link never deletes records.

#include <cstdint>
#include <functional>
#include <string>

namespace yktgw {

struct Batch {
  std::string id;           // idempotency key: the same for every retry of this batch
  std::string destination;  // e.g. "district", "crossprov"
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;
  std::uint32_t count = 0;
  std::string payload;  // compressed, as documented in docs/upstream-protocol.md
  bool operator==(const Batch&) const = default;
};

enum class DeliveryStatus : std::uint8_t {
  delivered,    // the platform acknowledged the batch id
  retry_later,  // timeout, link down, 5xx, 429: the core retries with backoff
  rejected,     // the platform says the batch is invalid: dead letter, alarm
};

struct DeliveryResult {
  DeliveryStatus status = DeliveryStatus::retry_later;
  std::string detail;  // for logs and the dead-letter table
  bool operator==(const DeliveryResult&) const = default;
};

class UpstreamLink {
 public:
  using Done = std::function<void(DeliveryResult)>;
  virtual ~UpstreamLink() = default;
  virtual const std::string& destination() const = 0;
  // Never blocks. `done` runs exactly once, on the link's own thread.
  virtual void send(const Batch& batch, Done done) = 0;
  // How many batches the link will take in flight at once.
  virtual int max_in_flight() const = 0;
};

}  // namespace yktgw
