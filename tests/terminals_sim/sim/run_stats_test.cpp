#include "terminals_sim/sim/run_stats.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace yktgw::sim {
namespace {

TEST(RunStats, SummaryHasEveryKeyInOrder) {
  RunStats s;
  s.sent = 100;
  s.approved = 90;
  s.declined = 8;
  s.timeouts = 2;
  s.txn_sent = 98;
  s.txn_resent = 3;
  s.txn_acked = 98;
  s.txn_stored = 97;
  s.txn_duplicate = 1;
  s.decline_reasons = {{"card_lost", 5}, {"unknown_card", 3}};
  for (std::uint64_t v = 1; v <= 100; ++v) s.rtt.record_us(v);  // exact below 128 us
  s.duration_s = 10.0004;
  s.rate_achieved = 9.99951;

  const std::string line = summary_json(s);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const auto j = nlohmann::ordered_json::parse(line);
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.push_back(k);
  const std::vector<std::string> want{
      "sent",        "approved",      "declined",        "timeouts",      "txn_sent",
      "txn_resent",  "txn_acked",     "txn_stored",      "txn_duplicate", "txn_rejected",
      "txn_pending", "txn_batches", "errors",        "decline_reasons", "mismatches",    "rtt_ms",
      "duration_s",  "rate_achieved", "unsent",          "unmatched",     "backpressure",
      "disconnects"};
  EXPECT_EQ(keys, want);
  EXPECT_EQ(j["sent"], 100);
  EXPECT_EQ(j["decline_reasons"]["card_lost"], 5);
  EXPECT_EQ(j["decline_reasons"]["unknown_card"], 3);
  EXPECT_DOUBLE_EQ(j["rtt_ms"]["p50"].get<double>(), 0.05);
  EXPECT_DOUBLE_EQ(j["rtt_ms"]["p90"].get<double>(), 0.09);
  EXPECT_DOUBLE_EQ(j["rtt_ms"]["p99"].get<double>(), 0.099);
  EXPECT_DOUBLE_EQ(j["rtt_ms"]["max"].get<double>(), 0.1);
  EXPECT_DOUBLE_EQ(j["duration_s"].get<double>(), 10.0);
  EXPECT_DOUBLE_EQ(j["rate_achieved"].get<double>(), 10.0);
}

TEST(RunStats, EmptyRunIsWellFormed) {
  const auto j = nlohmann::json::parse(summary_json(RunStats{}));
  EXPECT_TRUE(j["decline_reasons"].is_object());
  EXPECT_TRUE(j["decline_reasons"].empty());
  EXPECT_EQ(j["rtt_ms"]["p50"], 0);
}

TEST(RunStats, PassRequiresNoPendingNoErrorsNoMismatches) {
  RunStats s;
  s.timeouts = 7;  // timeouts alone do not fail a run: a slow gateway is measured, not judged
  EXPECT_TRUE(run_passed(s));
  s.txn_pending = 1;
  EXPECT_FALSE(run_passed(s));
  s.txn_pending = 0;
  s.errors = 1;
  EXPECT_FALSE(run_passed(s));
  s.errors = 0;
  s.mismatches = 1;
  EXPECT_FALSE(run_passed(s));
}

}  // namespace
}  // namespace yktgw::sim

namespace yktgw::sim {
namespace {

TEST(RunReport, CountsLatencyRecordsAndExpectations) {
  RunStats s;
  s.sent = 10;
  s.approved = 7;
  s.declined = 3;
  s.by_scenario["bus"] = ScenarioCounts{6, 5, 1, 0};
  s.by_scenario["gate_campus"] = ScenarioCounts{4, 2, 2, 1};
  s.by_reason = {{"ok", 7}, {"group_not_allowed", 2}, {"card_lost", 1}};
  s.by_credential = {{"card", 6}, {"ecard_qr", 3}, {"other", 1}};
  s.by_auth_mode = {{"online", 4}, {"offline", 6}};
  for (std::uint64_t v = 1; v <= 1000; ++v) s.rtt.record_us(v * 10);
  s.txn_sent = 12;
  s.txn_acked = 12;
  s.txn_stored = 11;
  s.txn_duplicate = 1;
  s.offline_taps_stored = 2;
  s.outages = 1;
  s.checked = 9;
  s.uncertain = 1;
  s.mismatches = 1;
  s.mismatch_samples = {"req_id=xy-gate-0001-r3 card=500156********0211 expected=..."};
  RunInfo info{"load", "bus:1,gate_campus:1", "meal", 20, 42, 2000, "config/policies.toml"};

  const auto j = nlohmann::ordered_json::parse(report_json(s, info));
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"run", "requests", "by_decision", "by_scenario",
                                            "by_reason", "by_credential", "by_mode", "latency_ms",
                                            "records", "outages", "expectations", "errors",
                                            "unmatched", "backpressure", "passed"}));
  EXPECT_EQ(j["run"]["mix"], "bus:1,gate_campus:1");
  EXPECT_EQ(j["run"]["profile"], "meal");
  EXPECT_EQ(j["requests"]["answered"], 10);
  EXPECT_EQ(j["by_decision"]["decline"], 3);
  EXPECT_EQ(j["by_scenario"]["gate_campus"]["mismatches"], 1);
  EXPECT_EQ(j["by_reason"]["group_not_allowed"], 2);
  EXPECT_EQ(j["by_credential"]["ecard_qr"], 3);
  EXPECT_EQ(j["by_mode"]["online"], 4);
  EXPECT_EQ(j["latency_ms"]["count"], 1000);
  // 10 us steps: p50 is the 500th value (5 ms), p99.9 the 999th (9.99 ms), within a bucket.
  EXPECT_NEAR(j["latency_ms"]["p50"].get<double>(), 5.0, 5.0 / 64);
  EXPECT_NEAR(j["latency_ms"]["p99_9"].get<double>(), 9.99, 9.99 / 64);
  EXPECT_DOUBLE_EQ(j["latency_ms"]["max"].get<double>(), 10.0);
  EXPECT_EQ(j["records"]["acked"], 12);
  EXPECT_EQ(j["outages"]["offline_taps_stored"], 2);
  EXPECT_EQ(j["expectations"]["mismatches"], 1);
  EXPECT_EQ(j["expectations"]["samples"].size(), 1u);
  EXPECT_FALSE(j["passed"].get<bool>());  // a mismatch fails the run
  s.mismatches = 0;
  EXPECT_TRUE(nlohmann::json::parse(report_json(s, info))["passed"].get<bool>());
}

}  // namespace
}  // namespace yktgw::sim
