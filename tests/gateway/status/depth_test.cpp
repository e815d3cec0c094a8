#include "gateway/status/depth.h"

#include <gtest/gtest.h>

namespace yktgw::status {
namespace {

// 2026-11-29 00:00 in Shanghai is 2026-11-28 16:00 UTC.
constexpr UtcMillis kNov29Shanghai = 1'795'881'600'000;

TEST(Calendar, ShanghaiDayTurnsAtLocalMidnight) {
  const std::int64_t day = shanghai_day(kNov29Shanghai);
  EXPECT_EQ(format_date(civil_from_days(day)), "2026-11-29");
  EXPECT_EQ(shanghai_day(kNov29Shanghai - 1), day - 1);
  EXPECT_EQ(shanghai_day(kNov29Shanghai + kDayMs - 1), day);
  EXPECT_EQ(format_month(civil_from_days(day)), "2026-11");
}

TEST(Calendar, CivilRoundTripAndMonthStart) {
  for (std::int64_t d = -1000; d < 30'000; d += 17)
    EXPECT_EQ(days_from_civil(civil_from_days(d)), d);
  EXPECT_EQ(days_from_civil({1970, 1, 1}), 0);
  EXPECT_EQ(days_from_civil({2024, 3, 1}) - days_from_civil({2024, 2, 28}), 2);  // leap year
  const std::int64_t day = shanghai_day(kNov29Shanghai);
  // 2026-11-01 00:00 Shanghai = 2026-10-31 16:00 UTC.
  EXPECT_EQ(shanghai_month_start_ms(day), kNov29Shanghai - 28 * kDayMs);
}

TEST(Calendar, ParseDate) {
  EXPECT_EQ(parse_date("2026-11-29"), (CivilDate{2026, 11, 29}));
  EXPECT_EQ(parse_date("2024-02-29"), (CivilDate{2024, 2, 29}));
  EXPECT_FALSE(parse_date("2026-02-29"));
  EXPECT_FALSE(parse_date("2026-13-01"));
  EXPECT_FALSE(parse_date("2026-11-00"));
  EXPECT_FALSE(parse_date("2026-1-01"));
  EXPECT_FALSE(parse_date("20261129"));
  EXPECT_FALSE(parse_date("2026-11-2x"));
}

TEST(Shares, CardShareCountsPhysicalAndElectronicCards) {
  KindCounts c;
  EXPECT_FALSE(c.card_share_percent());
  c.add(CredentialType::card, 6);
  c.add(CredentialType::ecard_qr, 1);
  c.add(CredentialType::ykm_qr, 2);
  c.add(CredentialType::other, 1);
  EXPECT_EQ(c.total(), 10U);
  ASSERT_TRUE(c.card_share_percent());
  EXPECT_DOUBLE_EQ(*c.card_share_percent(), 70.0);
}

TEST(Shares, LevelsAtFiftySeventyNinety) {
  EXPECT_EQ(level_reached(0), 0);
  EXPECT_EQ(level_reached(49.99), 0);
  EXPECT_EQ(level_reached(50), 1);
  EXPECT_EQ(level_reached(69.9), 1);
  EXPECT_EQ(level_reached(70), 2);
  EXPECT_EQ(level_reached(89.99), 2);
  EXPECT_EQ(level_reached(90), 3);
  EXPECT_EQ(level_reached(100), 3);
}

TEST(Shares, TargetDateFollowsTheYear) {
  EXPECT_EQ(target_index_for(days_from_civil({2024, 12, 31})), 0);
  EXPECT_EQ(target_index_for(days_from_civil({2025, 1, 1})), 1);
  EXPECT_EQ(target_index_for(days_from_civil({2026, 11, 29})), 2);
  EXPECT_EQ(target_index_for(days_from_civil({2027, 6, 1})), 3);
  EXPECT_EQ(target_index_for(days_from_civil({2030, 6, 1})), 3);
  EXPECT_EQ(target_label(2), "2026底");
}

TEST(Report, SplitsDayAndMonthPerItemAndScenario) {
  const std::int64_t today = days_from_civil({2026, 11, 29});
  const std::int64_t earlier = days_from_civil({2026, 11, 3});
  const std::int64_t last_month = days_from_civil({2026, 10, 31});
  std::vector<DepthTarget> targets(2);
  targets[0].item = 12;
  targets[0].name = "老年助餐";
  targets[0].level = {1, 1, 2, 3};
  targets[0].percent = {50, 50, 70, 90};
  targets[1].item = 29;
  targets[1].name = "公交出行";
  const std::vector<DepthCount> counts = {
      {today, 12, "canteen", CredentialType::card, 7},
      {today, 12, "canteen", CredentialType::ykm_qr, 3},
      {earlier, 12, "canteen", CredentialType::ecard_qr, 10},
      {earlier, 12, "canteen", CredentialType::other, 5},
      {last_month, 12, "canteen", CredentialType::card, 1000},  // outside the month
      {today + 1, 12, "canteen", CredentialType::card, 1000},   // after the day asked for
      {today, 0, "kiosk", CredentialType::other, 4},            // not mapped to an item
  };
  const auto r = compute_depth(counts, targets, {{"canteen", 12}, {"bus", 29}}, today);
  EXPECT_EQ(r.target_index, 2);
  ASSERT_EQ(r.items.size(), 2U);
  EXPECT_EQ(r.items[0].target.item, 12);
  EXPECT_EQ(r.items[0].day, (KindCounts{7, 0, 3, 0}));
  EXPECT_EQ(r.items[0].month, (KindCounts{7, 10, 3, 5}));
  EXPECT_DOUBLE_EQ(*r.items[0].day.card_share_percent(), 70.0);
  EXPECT_DOUBLE_EQ(*r.items[0].month.card_share_percent(), 68.0);
  EXPECT_EQ(r.items[1].month.total(), 0U);
  EXPECT_EQ(r.unmapped_day, (KindCounts{0, 0, 0, 4}));
  EXPECT_EQ(r.all_day.total(), 14U);
  EXPECT_EQ(r.all_month.total(), 29U);
  ASSERT_EQ(r.scenarios.size(), 3U);  // bus (assigned, no traffic), canteen, kiosk
  EXPECT_EQ(r.scenarios[0].scenario, "bus");
  EXPECT_EQ(r.scenarios[0].month.total(), 0U);
  EXPECT_EQ(r.scenarios[1].scenario, "canteen");
  EXPECT_EQ(r.scenarios[1].item, 12);
  EXPECT_EQ(r.scenarios[1].month.total(), 25U);
  EXPECT_EQ(r.scenarios[2].scenario, "kiosk");
  ASSERT_EQ(r.days.size(), 29U);
  EXPECT_EQ(r.days[2].day, earlier);
  EXPECT_EQ(r.days[2].counts.total(), 15U);
  EXPECT_EQ(r.days[28].counts.total(), 14U);
}

}  // namespace
}  // namespace yktgw::status
