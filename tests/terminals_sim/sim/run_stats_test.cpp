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
      "txn_pending", "errors",        "decline_reasons", "mismatches",    "rtt_ms",
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
