#include "gateway/status/api_json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/gateway/status/engine_counters.h"

namespace yktgw::status {
namespace {

using nlohmann::json;

TEST(ApiJson, DepthMarksTargetsMetAndUnknown) {
  const std::int64_t today = days_from_civil({2026, 11, 29});
  std::vector<DepthTarget> targets(3);
  targets[0].item = 12;
  targets[0].name = "老年助餐";
  targets[0].level = {1, 1, 2, 3};
  targets[0].percent = {50, 50, 70, 90};
  targets[1].item = 13;
  targets[1].level = {3, 3, 3, 3};
  targets[1].percent = {90, 90, 90, 90};
  targets[2].item = 40;  // a payment item: levels without a share
  targets[2].level = {1, 1, 2, 2};
  const std::vector<DepthCount> counts = {
      {today, 12, "canteen", CredentialType::card, 7},
      {today, 12, "canteen", CredentialType::other, 3},
      {today, 13, "gate", CredentialType::ecard_qr, 8},
      {today, 13, "gate", CredentialType::ykm_qr, 2},
  };
  const auto j = json::parse(depth_json(compute_depth(counts, targets, {}, today), 5));
  EXPECT_EQ(j["date"], "2026-11-29");
  EXPECT_EQ(j["month"], "2026-11");
  EXPECT_EQ(j["target"]["label"], "2026底");
  ASSERT_EQ(j["items"].size(), 3U);
  EXPECT_EQ(j["items"][0]["target_percent"], 70);
  EXPECT_EQ(j["items"][0]["day"]["card_share_percent"], 70.0);
  EXPECT_EQ(j["items"][0]["day"]["level_reached"], 2);
  EXPECT_EQ(j["items"][0]["day"]["meets_target"], true);
  EXPECT_EQ(j["items"][1]["day"]["card_share_percent"], 80.0);
  EXPECT_EQ(j["items"][1]["day"]["meets_target"], false);
  EXPECT_TRUE(j["items"][2]["target_percent"].is_null());
  EXPECT_TRUE(j["items"][2]["day"]["card_share_percent"].is_null());
  EXPECT_TRUE(j["items"][2]["day"]["meets_target"].is_null());
  EXPECT_EQ(j["all"]["day"]["total"], 20);
  EXPECT_EQ(j["days"].size(), 29U);
}

TEST(ApiJson, TerminalsCountOnline) {
  std::vector<TerminalView> t(2);
  t[0].info.terminal = "pos-01";
  t[0].info.state = TerminalState::online;
  t[0].scenario = "canteen";
  t[1].info.terminal = "pos-02";
  const auto j = json::parse(terminals_json(t, 99));
  EXPECT_EQ(j["total"], 2);
  EXPECT_EQ(j["online"], 1);
  EXPECT_EQ(j["terminals"][0]["state"], "online");
  EXPECT_EQ(j["terminals"][0]["scenario"], "canteen");
  EXPECT_EQ(j["terminals"][1]["state"], "offline");
}

TEST(ApiJson, StatusCarriesLinksAndAlarms) {
  StatusSnapshot s;
  s.gateway_id = "gw";
  s.started_ms = 1000;
  s.now_ms = 61'000;
  s.terminals = 3;
  s.terminals_online = 2;
  LinkView l;
  l.destination = "crossprov";
  l.state = "backoff";
  l.backlog = 5;
  s.links.push_back(l);
  s.alarms.push_back({"upstream_down", "crossprov link is not answering"});
  const auto j = json::parse(status_json(s));
  EXPECT_EQ(j["gateway"]["uptime_s"], 60);
  EXPECT_EQ(j["links"][0]["state"], "backoff");
  EXPECT_EQ(j["links"][0]["backlog"], 5);
  EXPECT_EQ(j["terminals"]["offline"], 1);
  EXPECT_EQ(j["alarms"][0]["code"], "upstream_down");
}

TEST(ApiJson, StatusCarriesTheEngineCounters) {
  StatusSnapshot s;
  s.engine = testing::engine_counters();
  const auto j = json::parse(status_json(s));
  const auto& e = j["engine"];
  EXPECT_EQ(e["decisions"], 12);
  EXPECT_EQ(e["approved"], 9);
  EXPECT_EQ(e["declined"], 3);
  EXPECT_EQ(e["online"]["asked"], 6);
  EXPECT_EQ(e["online"]["answered"], 3);
  EXPECT_EQ(e["online"]["timeout"], 2);
  EXPECT_EQ(e["online"]["link_down"], 4);
  EXPECT_EQ(e["online"]["error"], 1);
  EXPECT_EQ(e["offline_decided"], 7);
  EXPECT_EQ(e["pool_busy"], 5);
  EXPECT_EQ(e["attendance"]["stored"], 11);
  EXPECT_EQ(e["attendance"]["failed"], 1);
  EXPECT_EQ(e["attendance"]["refused_quota"], 4);
}

}  // namespace
}  // namespace yktgw::status
