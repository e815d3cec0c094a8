#include "terminals_sim/sim/run_stats.h"

#include <cmath>
#include <nlohmann/json.hpp>

namespace yktgw::sim {
namespace {

// Microseconds to milliseconds with three decimals: readable, and no float noise in the JSON.
double to_ms(std::uint64_t us) { return static_cast<double>(us) / 1000.0; }
double round3(double v) { return std::round(v * 1000.0) / 1000.0; }

}  // namespace

std::string summary_json(const RunStats& s) {
  nlohmann::ordered_json j;
  j["sent"] = s.sent;
  j["approved"] = s.approved;
  j["declined"] = s.declined;
  j["timeouts"] = s.timeouts;
  j["txn_sent"] = s.txn_sent;
  j["txn_resent"] = s.txn_resent;
  j["txn_acked"] = s.txn_acked;
  j["txn_stored"] = s.txn_stored;
  j["txn_duplicate"] = s.txn_duplicate;
  j["txn_rejected"] = s.txn_rejected;
  j["txn_pending"] = s.txn_pending;
  j["errors"] = s.errors;
  j["decline_reasons"] = nlohmann::ordered_json::object();
  for (const auto& [reason, n] : s.decline_reasons) j["decline_reasons"][reason] = n;
  j["mismatches"] = s.mismatches;
  j["rtt_ms"] = {{"p50", to_ms(s.rtt.percentile_us(0.50))},
                 {"p90", to_ms(s.rtt.percentile_us(0.90))},
                 {"p99", to_ms(s.rtt.percentile_us(0.99))},
                 {"max", to_ms(s.rtt.max_us())}};
  j["duration_s"] = round3(s.duration_s);
  j["rate_achieved"] = round3(s.rate_achieved);
  j["unsent"] = s.unsent;
  j["unmatched"] = s.unmatched;
  j["backpressure"] = s.backpressure;
  j["disconnects"] = s.disconnects;
  return j.dump();
}

bool run_passed(const RunStats& s) {
  return s.txn_pending == 0 && s.errors == 0 && s.mismatches == 0;
}

}  // namespace yktgw::sim
