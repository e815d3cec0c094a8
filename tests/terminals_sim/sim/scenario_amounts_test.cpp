#include "terminals_sim/sim/scenario_amounts.h"

#include <gtest/gtest.h>

namespace yktgw::sim {
namespace {

TEST(ScenarioAmounts, CanteenMealsAreFiveToFifteenYuan) {
  const auto range = amount_range("canteen");
  std::mt19937_64 rng(1);
  Fen lo = range.max;
  Fen hi = range.min;
  for (int i = 0; i < 5000; ++i) {
    const Fen a = draw_amount(rng, range);
    ASSERT_GE(a, 500);
    ASSERT_LE(a, 1500);
    ASSERT_EQ(a % 50, 0);
    lo = std::min(lo, a);
    hi = std::max(hi, a);
  }
  EXPECT_EQ(lo, 500);  // both ends are reachable
  EXPECT_EQ(hi, 1500);
}

TEST(ScenarioAmounts, IdentityOnlyScenariosCarryNoAmount) {
  std::mt19937_64 rng(1);
  for (const char* s : {"gate", "library", "museum", "hotel", "clinic", "something-new"}) {
    EXPECT_EQ(draw_amount(rng, amount_range(s)), 0) << s;
  }
}

TEST(ScenarioAmounts, BusFares) {
  std::mt19937_64 rng(2);
  for (int i = 0; i < 100; ++i) {
    const Fen a = draw_amount(rng, amount_range("bus"));
    EXPECT_TRUE(a == 100 || a == 200 || a == 300) << a;
  }
}

}  // namespace
}  // namespace yktgw::sim
