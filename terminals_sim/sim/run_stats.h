#pragma once
// What a run counts, and the one-line JSON summary printed at its end.

#include <cstdint>
#include <map>
#include <string>

#include "terminals_sim/sim/latency_histogram.h"

namespace yktgw::sim {

struct RunStats {
  // Auth requests. sent = approved + declined + timeouts (+ unreadable responses, in errors).
  std::uint64_t sent = 0;
  std::uint64_t approved = 0;
  std::uint64_t declined = 0;
  std::uint64_t timeouts = 0;    // published, no response by the end of the drain
  std::uint64_t unsent = 0;      // scheduled, but MQTT never took them before the end
  std::uint64_t mismatches = 0;  // decision or reason differs from the card's expectation
  std::map<std::string, std::uint64_t> decline_reasons;
  LatencyHistogram rtt;  // from the intended send time, so a late send counts against latency

  // Transaction records. txn_sent counts records (first publishes); txn_acked counts records
  // settled by an ack of any status, so txn_sent = txn_acked + txn_pending once all were sent.
  std::uint64_t txn_sent = 0;
  std::uint64_t txn_resent = 0;
  std::uint64_t txn_acked = 0;
  std::uint64_t txn_stored = 0;
  std::uint64_t txn_duplicate = 0;
  std::uint64_t txn_rejected = 0;
  std::uint64_t txn_pending = 0;

  // Rejected acks, unreadable replies, failed subscriptions.
  std::uint64_t errors = 0;
  // Replies for no pending request or record: late second acks after a resend, mostly.
  std::uint64_t unmatched = 0;
  std::uint64_t backpressure = 0;  // publishes MQTT refused and that were retried later
  std::uint64_t disconnects = 0;   // connections lost during the run

  double duration_s = 0;     // start of the load to the end of the drain
  double rate_achieved = 0;  // requests sent per second of load phase
};

// {"sent":..,...,"rtt_ms":{"p50":..,"p90":..,"p99":..,"max":..},"duration_s":..,
//  "rate_achieved":..,"unsent":..,...} on one line, keys in a fixed order.
std::string summary_json(const RunStats& s);

// The run passed when every record was acked, nothing was rejected or unreadable, and every
// decision matched the card list.
bool run_passed(const RunStats& s);

}  // namespace yktgw::sim
