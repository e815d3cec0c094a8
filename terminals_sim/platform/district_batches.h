#pragma once
// The simulated district platform's answer to BATCH (docs/upstream-protocol.md §4.6): inflate
// and parse the body with the gateway's own codec (gateway/outbox/batch_format.h), store the
// records through ReceivedStore under platform "district", deduplicated by (source gateway,
// terminal, txn_id), and answer BATCH_ACK; anything malformed gets ERROR invalid_batch.
//
// Faults are the HTTPS receiver's (ReceiverFaults), mapped onto ZeroMQ answers:
//   error_500_probability  ERROR unavailable, nothing stored          → gateway: retry_later
//   error_429_probability  ERROR busy + retry_after_ms, nothing stored → gateway: retry_later
//   error_400_probability  ERROR invalid_batch, nothing stored        → gateway: rejected
//   drop_ack_probability   stored, no answer at all                   → gateway: timeout, resend
//   ack_delay_ms           BATCH_ACK sent this much later (the loop's timer queue, no sleeping)
// The down/up schedule is applied by the loop (district_loop.h): while down nothing is answered.
//
// handle() is called from the district loop's one thread; stats() and set_faults() from any.

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>

#include "connectors/zmq/district_protocol.h"
#include "gateway/core/result.h"
#include "gateway/interfaces/clock.h"
#include "terminals_sim/platform/platform_service.h"
#include "terminals_sim/platform_https/https_batch_receiver.h"
#include "terminals_sim/platform_https/received_store.h"

namespace yktgw::platform {

struct DistrictBatchOptions {
  std::string db_path;                // ReceivedStore file; may be the platform's --db file
  std::string platform = "district";  // the name records are counted under
  std::size_t max_inflated_bytes = 64u << 20;  // a small hostile body must not exhaust memory
  ReceiverFaults faults;                       // `down` is ignored here (the loop applies it)
};

class DistrictBatchReceiver {
 public:
  // Opens (creating) the store. Errors are the store's.
  static Result<std::unique_ptr<DistrictBatchReceiver>> open(DistrictBatchOptions options,
                                                             const Clock& clock);

  // One BATCH envelope. The reply is BATCH_ACK or ERROR with the batch's message id; no reply
  // for a dropped ack; `delay` for a slow one.
  Handled handle(const district::Envelope& batch);

  void set_faults(const ReceiverFaults& faults);
  ReceiverStats stats() const;

 private:
  DistrictBatchReceiver(DistrictBatchOptions options, ReceivedStore store, const Clock& clock);

  enum class Fault : std::uint8_t { none, e500, e429, e400 };
  Fault draw_fault(ReceiverFaults& now);
  bool draw_drop(double probability);
  Handled invalid(const district::Envelope& in, std::string message);

  DistrictBatchOptions options_;
  ReceivedStore store_;
  const Clock& clock_;
  mutable std::mutex mu_;  // faults_, rng_ and stats_
  ReceiverFaults faults_;
  std::mt19937_64 rng_;
  ReceiverStats stats_;
};

}  // namespace yktgw::platform
