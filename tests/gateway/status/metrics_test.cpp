#include "gateway/status/metrics.h"

#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "tests/gateway/status/engine_counters.h"

namespace yktgw::status {
namespace {

StatusSnapshot sample() {
  StatusSnapshot s;
  s.gateway_id = "gw-1";
  s.site = "xiangkou";
  s.version = "0.1.0";
  s.started_ms = 1'000'000;
  s.now_ms = 1'061'500;
  s.broker_connected = true;
  s.auth_requests = 12;
  s.approved = 9;
  s.declined = 3;
  s.declined_by_reason = {{"card_lost", 2}, {"unknown_card", 1}};
  s.auth_latency.counts[0] = 4;  // <= 100 us
  s.auth_latency.counts[3] = 5;  // <= 1 ms
  s.auth_latency.counts[kLatencyBuckets - 1] = 1;
  s.auth_latency.sum_us = 20'000'000;
  s.engine = testing::engine_counters();
  s.txn_received = 8;
  s.txn_stored = 7;
  s.txn_duplicate = 1;
  s.terminals = 5;
  s.terminals_online = 3;
  LinkView l;
  l.destination = "district";
  l.backlog = 42;
  l.lag_ms = 1500;
  l.last_ack_ms = 1'060'000;
  l.connected = true;
  s.links.push_back(l);
  s.alarms.push_back({"dead_letters", "x"});
  return s;
}

// The value of the line that starts with `series` (name plus labels), or "" when absent.
std::string value_of(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return line.substr(series.size() + 1);
  }
  return "";
}

TEST(Metrics, CountersGaugesAndLabels) {
  const std::string m = format_metrics(sample());
  EXPECT_EQ(value_of(m, "yktgw_auth_requests_total"), "12");
  EXPECT_EQ(value_of(m, "yktgw_auth_decisions_total{decision=\"approve\"}"), "9");
  EXPECT_EQ(value_of(m, "yktgw_auth_decisions_total{decision=\"decline\"}"), "3");
  EXPECT_EQ(value_of(m, "yktgw_auth_declines_total{reason=\"card_lost\"}"), "2");
  EXPECT_EQ(value_of(m, "yktgw_txn_records_total{outcome=\"stored\"}"), "7");
  EXPECT_EQ(value_of(m, "yktgw_terminals{state=\"online\"}"), "3");
  EXPECT_EQ(value_of(m, "yktgw_terminals{state=\"offline\"}"), "2");
  EXPECT_EQ(value_of(m, "yktgw_outbox_backlog_records{destination=\"district\"}"), "42");
  EXPECT_EQ(value_of(m, "yktgw_outbox_lag_seconds{destination=\"district\"}"), "1.5");
  EXPECT_EQ(value_of(m, "yktgw_outbox_last_ack_timestamp_seconds{destination=\"district\"}"),
            "1060");
  EXPECT_EQ(value_of(m, "yktgw_uptime_seconds"), "61.5");
  EXPECT_EQ(value_of(m, "yktgw_broker_connected"), "1");
  EXPECT_EQ(value_of(m, "yktgw_alarm_active{code=\"dead_letters\"}"), "1");
  EXPECT_EQ(value_of(m, "yktgw_build_info{version=\"0.1.0\",gateway=\"gw-1\",site=\"xiangkou\"}"),
            "1");
  EXPECT_NE(m.find("# TYPE yktgw_auth_latency_seconds histogram\n"), std::string::npos);
  EXPECT_NE(m.find("# TYPE yktgw_auth_requests_total counter\n"), std::string::npos);
}

TEST(Metrics, EngineOnlineCountersHaveStableNames) {
  const std::string m = format_metrics(sample());
  EXPECT_EQ(value_of(m, "yktgw_engine_decisions_total{decision=\"approve\"}"), "9");
  EXPECT_EQ(value_of(m, "yktgw_engine_decisions_total{decision=\"decline\"}"), "3");
  EXPECT_EQ(value_of(m, "yktgw_engine_online_asked_total"), "6");
  EXPECT_EQ(value_of(m, "yktgw_engine_online_outcomes_total{outcome=\"answered\"}"), "3");
  EXPECT_EQ(value_of(m, "yktgw_engine_online_outcomes_total{outcome=\"timeout\"}"), "2");
  EXPECT_EQ(value_of(m, "yktgw_engine_online_outcomes_total{outcome=\"link_down\"}"), "4");
  EXPECT_EQ(value_of(m, "yktgw_engine_online_outcomes_total{outcome=\"error\"}"), "1");
  EXPECT_EQ(value_of(m, "yktgw_engine_offline_decisions_total"), "7");
  EXPECT_EQ(value_of(m, "yktgw_engine_pool_busy_total"), "5");
  EXPECT_EQ(value_of(m, "yktgw_engine_attendance_records_total{outcome=\"stored\"}"), "11");
  EXPECT_EQ(value_of(m, "yktgw_engine_attendance_records_total{outcome=\"failed\"}"), "1");
  EXPECT_EQ(value_of(m, "yktgw_engine_attendance_records_total{outcome=\"refused_quota\"}"), "4");
  for (const char* family :
       {"yktgw_engine_decisions_total", "yktgw_engine_online_asked_total",
        "yktgw_engine_online_outcomes_total", "yktgw_engine_offline_decisions_total",
        "yktgw_engine_pool_busy_total", "yktgw_engine_attendance_records_total"}) {
    EXPECT_NE(m.find(std::string("# TYPE ") + family + " counter\n"), std::string::npos) << family;
  }
  // Present at zero too, so a dashboard's rate() has a series from the start.
  const std::string zero = format_metrics(StatusSnapshot{});
  EXPECT_EQ(value_of(zero, "yktgw_engine_online_outcomes_total{outcome=\"timeout\"}"), "0");
  EXPECT_EQ(value_of(zero, "yktgw_engine_online_asked_total"), "0");
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  const std::string m = format_metrics(sample());
  EXPECT_EQ(value_of(m, "yktgw_auth_latency_seconds_bucket{le=\"0.0001\"}"), "4");
  EXPECT_EQ(value_of(m, "yktgw_auth_latency_seconds_bucket{le=\"0.0005\"}"), "4");
  EXPECT_EQ(value_of(m, "yktgw_auth_latency_seconds_bucket{le=\"0.001\"}"), "9");
  EXPECT_EQ(value_of(m, "yktgw_auth_latency_seconds_bucket{le=\"10\"}"), "9");
  EXPECT_EQ(value_of(m, "yktgw_auth_latency_seconds_bucket{le=\"+Inf\"}"), "10");
  EXPECT_EQ(value_of(m, "yktgw_auth_latency_seconds_count"), "10");
  EXPECT_EQ(value_of(m, "yktgw_auth_latency_seconds_sum"), "20");
}

TEST(Metrics, EveryLineIsACommentOrANameValuePair) {
  const std::string m = format_metrics(sample());
  std::istringstream in(m);
  std::string line;
  int samples = 0;
  while (std::getline(in, line)) {
    ASSERT_FALSE(line.empty());
    if (line[0] == '#') continue;
    ++samples;
    EXPECT_EQ(line.rfind("yktgw_", 0), 0U) << line;
    const auto space = line.rfind(' ');
    ASSERT_NE(space, std::string::npos) << line;
    const std::string value = line.substr(space + 1);
    EXPECT_NO_THROW((void)std::stod(value == "+Inf" ? "inf" : value)) << line;
  }
  EXPECT_GT(samples, 30);
}

TEST(Metrics, EachSeriesAppearsOnce) {
  StatusSnapshot s = sample();
  s.alarms.push_back({"no_link", "district"});
  s.alarms.push_back({"no_link", "crossprov"});
  const std::string m = format_metrics(s);
  EXPECT_EQ(value_of(m, "yktgw_alarm_active{code=\"no_link\"}"), "2");
  std::istringstream in(m);
  std::string line;
  std::set<std::string> series;
  while (std::getline(in, line)) {
    if (line[0] == '#') continue;
    EXPECT_TRUE(series.insert(line.substr(0, line.rfind(' '))).second) << line;
  }
}

TEST(Metrics, LabelValuesAreEscaped) {
  EXPECT_EQ(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  StatusSnapshot s = sample();
  s.links[0].destination = "dis\"trict";
  const std::string m = format_metrics(s);
  EXPECT_EQ(value_of(m, "yktgw_outbox_backlog_records{destination=\"dis\\\"trict\"}"), "42");
}

}  // namespace
}  // namespace yktgw::status
