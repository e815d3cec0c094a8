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
  j["txn_batches"] = s.txn_batches;
  j["errors"] = s.errors;
  j["decline_reasons"] = nlohmann::ordered_json::object();
  for (const auto& [reason, n] : s.decline_reasons) j["decline_reasons"][reason] = n;
  j["mismatches"] = s.mismatches;
  j["rtt_ms"] = {{"p50", to_ms(s.rtt.percentile_us(0.50))},
                 {"p90", to_ms(s.rtt.percentile_us(0.90))},
                 {"p99", to_ms(s.rtt.percentile_us(0.99))},
                 {"p99_9", to_ms(s.rtt.percentile_us(0.999))},
                 {"max", to_ms(s.rtt.max_us())}};
  j["duration_s"] = round3(s.duration_s);
  j["rate_achieved"] = round3(s.rate_achieved);
  j["unsent"] = s.unsent;
  j["unmatched"] = s.unmatched;
  j["backpressure"] = s.backpressure;
  j["disconnects"] = s.disconnects;
  return j.dump();
}

std::string report_json(const RunStats& s, const RunInfo& info) {
  using ojson = nlohmann::ordered_json;
  ojson j;
  j["run"] = {{"mode", info.mode},
              {"mix", info.mix},
              {"profile", info.profile},
              {"rate", info.rate},
              {"seed", info.seed},
              {"cards", info.cards},
              {"policies", info.policies},
              {"duration_s", round3(s.duration_s)},
              {"rate_achieved", round3(s.rate_achieved)}};
  j["requests"] = {{"sent", s.sent},
                   {"answered", s.approved + s.declined},
                   {"timeouts", s.timeouts},
                   {"unsent", s.unsent}};
  j["by_decision"] = {{"approve", s.approved}, {"decline", s.declined}};
  ojson scenarios = ojson::object();
  for (const auto& [name, c] : s.by_scenario) {
    scenarios[name] = {{"answered", c.answered},
                       {"approved", c.approved},
                       {"declined", c.declined},
                       {"mismatches", c.mismatches}};
  }
  j["by_scenario"] = scenarios;
  auto counts = [](const std::map<std::string, std::uint64_t>& m) {
    ojson o = ojson::object();
    for (const auto& [k, v] : m) o[k] = v;
    return o;
  };
  j["by_reason"] = counts(s.by_reason);
  j["by_credential"] = counts(s.by_credential);
  j["by_mode"] = counts(s.by_auth_mode);
  j["latency_ms"] = {{"count", s.rtt.count()},
                     {"p50", to_ms(s.rtt.percentile_us(0.50))},
                     {"p90", to_ms(s.rtt.percentile_us(0.90))},
                     {"p99", to_ms(s.rtt.percentile_us(0.99))},
                     {"p99_9", to_ms(s.rtt.percentile_us(0.999))},
                     {"max", to_ms(s.rtt.max_us())}};
  j["records"] = {{"sent", s.txn_sent},         {"acked", s.txn_acked},
                  {"stored", s.txn_stored},     {"duplicate", s.txn_duplicate},
                  {"rejected", s.txn_rejected}, {"pending", s.txn_pending},
                  {"resent", s.txn_resent},     {"batches", s.txn_batches}};
  j["outages"] = {{"outages", s.outages},
                  {"offline_taps_stored", s.offline_taps_stored},
                  {"offline_taps_skipped", s.offline_taps_skipped},
                  {"disconnects", s.disconnects}};
  j["expectations"] = {{"checked", s.checked},
                       {"uncertain", s.uncertain},
                       {"mismatches", s.mismatches},
                       {"samples", s.mismatch_samples}};
  j["errors"] = s.errors;
  j["unmatched"] = s.unmatched;
  j["backpressure"] = s.backpressure;
  j["passed"] = run_passed(s);
  return j.dump(2);
}

bool run_passed(const RunStats& s) {
  return s.txn_pending == 0 && s.errors == 0 && s.mismatches == 0;
}

}  // namespace yktgw::sim
