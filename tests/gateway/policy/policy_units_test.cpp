// The small pieces the policies are made of: Shanghai time, ages, discounts, windows, fees,
// terminal patterns.

#include <gtest/gtest.h>

#include "gateway/policy/kinds.h"
#include "gateway/policy/local_time.h"
#include "gateway/policy/policies.h"
#include "gateway/policy/policy_setup.h"
#include "tests/gateway/policy/fakes.h"

namespace yktgw {
namespace {

using testing::utc_ms;

TEST(LocalTime, ShanghaiDayStartsAt1600Utc) {
  EXPECT_EQ(shanghai_day(utc_ms(2025, 6, 11, 15, 59, 59, 999)) + 1,
            shanghai_day(utc_ms(2025, 6, 11, 16, 0, 0, 0)));
  const LocalTime t = shanghai_time(utc_ms(2025, 6, 11, 16, 0));
  EXPECT_EQ(t.date, (CivilDate{2025, 6, 12}));
  EXPECT_EQ(t.minute_of_day, 0);
  EXPECT_EQ(shanghai_time(utc_ms(2025, 6, 11, 15, 59)).minute_of_day, 23 * 60 + 59);
  EXPECT_EQ(shanghai_time(utc_ms(2025, 12, 31, 16, 30)).date, (CivilDate{2026, 1, 1}));
  EXPECT_EQ(shanghai_day(0), 0);
  EXPECT_EQ(shanghai_day(-8LL * 3600 * 1000 - 1), -1);  // before 1970 in Shanghai
}

TEST(LocalTime, AgeInCompletedYears) {
  const CivilDate today{2025, 6, 11};
  EXPECT_EQ(age_on({1960, 6, 11}, today), 65);
  EXPECT_EQ(age_on({1960, 6, 12}, today), 64);
  EXPECT_EQ(age_on({1960, 7, 1}, today), 64);
  EXPECT_EQ(age_on({}, today), -1);
  EXPECT_EQ(age_on({2030, 1, 1}, today), -1);
  // A 29 February birthday is reached on 1 March in common years.
  EXPECT_EQ(age_on({1956, 2, 29}, {2025, 2, 28}), 68);
  EXPECT_EQ(age_on({1956, 2, 29}, {2025, 3, 1}), 69);
  EXPECT_EQ(age_on({1956, 2, 29}, {2024, 2, 29}), 68);
}

TEST(Discount, RoundsDownToTheFen) {
  EXPECT_EQ(discounted(1200, 10), 1080);
  EXPECT_EQ(discounted(1005, 10), 904);  // 904.5
  EXPECT_EQ(discounted(999, 30), 699);   // 699.3
  EXPECT_EQ(discounted(1, 50), 0);
  EXPECT_EQ(discounted(1200, 100), 0);
  EXPECT_EQ(discounted(1200, 0), 1200);
  EXPECT_EQ(discounted(1'000'000'000, 33), 670'000'000);
  EXPECT_EQ(discounted(-5, 10), 0);
}

TEST(Discount, HighestTierReached) {
  const std::vector<AgeTier> tiers = {{80, 100, "a80"}, {70, 30, "a70"}, {60, 10, "a60"}};
  EXPECT_EQ(tier_for(tiers, 59), nullptr);
  EXPECT_EQ(tier_for(tiers, 60)->rule, "a60");
  EXPECT_EQ(tier_for(tiers, 79)->rule, "a70");
  EXPECT_EQ(tier_for(tiers, 101)->rule, "a80");
  EXPECT_EQ(tier_for(tiers, -1), nullptr);
}

TEST(Window, ParsesAndContains) {
  const auto day = parse_window("06:00-22:00");
  ASSERT_TRUE(day);
  EXPECT_FALSE(day->contains(359));
  EXPECT_TRUE(day->contains(360));
  EXPECT_TRUE(day->contains(1319));
  EXPECT_FALSE(day->contains(1320));
  const auto night = parse_window("22:00-06:00");
  ASSERT_TRUE(night);
  EXPECT_TRUE(night->contains(1439));
  EXPECT_TRUE(night->contains(0));
  EXPECT_FALSE(night->contains(360));
  const auto all = parse_window("00:00-24:00");
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->contains(0));
  EXPECT_TRUE(all->contains(1439));
  for (const char* bad : {"", "6:00-22:00", "06:00", "06:00-06:00", "25:00-26:00", "06:60-07:00",
                          "24:00-06:00", "24:01-01:00", "06:00-22:00 ", "aa:bb-cc:dd"}) {
    EXPECT_FALSE(parse_window(bad)) << bad;
  }
}

struct FeeCase {
  std::int64_t minutes;
  std::int64_t extra_ms;
  Fen fee;
};

TEST(ParkingFee, FreeMinutesUnitsAndCapPerStartedDay) {
  const ParkingPolicy::Tariff t{15, 60, 200, 2000};
  const FeeCase cases[] = {
      {0, 0, 0},          {15, 0, 0},         {15, 1, 200},       {75, 0, 200},
      {75, 1, 400},       {135, 0, 400},      {24 * 60, 0, 2000}, {24 * 60, 1, 2200},
      {30 * 60, 0, 3200}, {48 * 60, 0, 4000}, {72 * 60, 0, 6000}, {72 * 60 + 61, 0, 6400},
  };
  for (const FeeCase& c : cases) {
    EXPECT_EQ(ParkingPolicy::fee(t, c.minutes * 60'000 + c.extra_ms), c.fee)
        << c.minutes << " min + " << c.extra_ms << " ms";
  }
  EXPECT_EQ(ParkingPolicy::fee({0, 30, 100, 0}, 10 * 3600'000LL), 2000);  // no cap
}

TEST(Glob, StarAndQuestionMark) {
  EXPECT_TRUE(glob_match("ct-*", "ct-0001"));
  EXPECT_TRUE(glob_match("ct-*", "ct-"));
  EXPECT_FALSE(glob_match("ct-*", "xct-1"));
  EXPECT_TRUE(glob_match("ct-??", "ct-01"));
  EXPECT_FALSE(glob_match("ct-??", "ct-001"));
  EXPECT_TRUE(glob_match("*-gate-*", "xy-gate-3"));
  EXPECT_TRUE(glob_match("a*b*c", "aXXbYYbZc"));
  EXPECT_FALSE(glob_match("a*b*c", "aXXbYYbZ"));
  EXPECT_TRUE(glob_match("exact", "exact"));
  EXPECT_FALSE(glob_match("exact", "exact2"));
  EXPECT_TRUE(glob_match("*", ""));
}

TEST(Setup, SplitsGroupNames) {
  EXPECT_EQ(split_group_names("staff, student,site_worker ,resident"),
            (std::vector<std::string>{"staff", "student", "site_worker", "resident"}));
  EXPECT_EQ(split_group_names(""), std::vector<std::string>{});
  EXPECT_EQ(split_group_names(",a,,b,"), (std::vector<std::string>{"a", "b"}));
}

TEST(Kinds, NamesRoundTrip) {
  for (std::size_t i = 0; i < kScenarioKindCount; ++i) {
    const auto k = static_cast<ScenarioKind>(i);
    EXPECT_EQ(scenario_kind_from(to_string(k)), k);
  }
  EXPECT_FALSE(scenario_kind_from("taxi"));
}

}  // namespace
}  // namespace yktgw
