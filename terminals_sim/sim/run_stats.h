#pragma once
// What a run counts, and the one-line JSON summary printed at its end.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "terminals_sim/sim/latency_histogram.h"

namespace yktgw::sim {

struct ScenarioCounts {
  std::uint64_t answered = 0;
  std::uint64_t approved = 0;
  std::uint64_t declined = 0;
  std::uint64_t mismatches = 0;
  bool operator==(const ScenarioCounts&) const = default;
};

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
  std::uint64_t txn_batches = 0;  // txn/batch messages published (first sends and resends)

  // Rejected acks, unreadable replies, failed subscriptions.
  std::uint64_t errors = 0;
  // Replies for no pending request or record: late second acks after a resend, mostly.
  std::uint64_t unmatched = 0;
  std::uint64_t backpressure = 0;  // publishes MQTT refused and that were retried later
  std::uint64_t disconnects = 0;   // connections lost during the run

  double duration_s = 0;     // start of the load to the end of the drain
  double rate_achieved = 0;  // requests sent per second of load phase

  // Answers by scenario, by reason code (ok included), by the request's credential type, and
  // by the gateway's mode (online: the platform answered).
  std::map<std::string, ScenarioCounts> by_scenario;
  std::map<std::string, std::uint64_t> by_reason;
  std::map<std::string, std::uint64_t> by_credential;
  std::map<std::string, std::uint64_t> by_auth_mode;
  std::uint64_t checked = 0;    // answers compared with the expectation model
  std::uint64_t uncertain = 0;  // answers the model could not call (a boundary in between)
  std::vector<std::string> mismatch_samples;  // the first few, card numbers masked

  // Terminals that lost their link: taps a bus stored and uploaded later, taps elsewhere that
  // could not be made.
  std::uint64_t outages = 0;
  std::uint64_t offline_taps_stored = 0;
  std::uint64_t offline_taps_skipped = 0;
};

// What a report says about the run itself.
struct RunInfo {
  std::string mode;  // demo, load, soak
  std::string mix;   // "canteen:4,bus:2" or "sim:N scenario" for a single scenario
  std::string profile;
  double rate = 0;
  std::uint64_t seed = 0;
  std::size_t cards = 0;
  std::string policies;  // file the expectations came from; empty: card status only
};

// {"sent":..,...,"rtt_ms":{"p50":..,"p90":..,"p99":..,"max":..},"duration_s":..,
//  "rate_achieved":..,"unsent":..,...} on one line, keys in a fixed order.
std::string summary_json(const RunStats& s);

// The full report (--report FILE): the run, counts by scenario, decision, reason, credential
// and mode, the latency histogram (p50/p90/p99/p99.9/max), records sent and acked, and the
// expectation check. Pretty-printed JSON, keys in a fixed order.
std::string report_json(const RunStats& s, const RunInfo& info);

// The run passed when every record was acked, nothing was rejected or unreadable, and every
// decision matched the card list.
bool run_passed(const RunStats& s);

}  // namespace yktgw::sim
