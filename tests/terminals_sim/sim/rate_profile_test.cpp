#include "terminals_sim/sim/rate_profile.h"

#include <gtest/gtest.h>

namespace yktgw::sim {
namespace {

double mean_over_period(const RateProfile& p, double period) {
  double sum = 0;
  constexpr int kSteps = 24 * 600;
  for (int i = 0; i < kSteps; ++i) sum += p.multiplier((i + 0.5) * period / kSteps);
  return sum / kSteps;
}

TEST(RateProfile, SteadyIsOne) {
  const RateProfile p(RateShape::steady, 60);
  EXPECT_DOUBLE_EQ(p.multiplier(0), 1.0);
  EXPECT_DOUBLE_EQ(p.multiplier(37.5), 1.0);
  EXPECT_DOUBLE_EQ(p.next_send(2.0, 10), 2.1);
}

TEST(RateProfile, ShapesAverageOneAndPeakThreeTimesTheQuietRate) {
  for (auto shape : {RateShape::meal, RateShape::rush}) {
    const RateProfile p(shape, 240);  // 10 s per compressed hour
    EXPECT_NEAR(mean_over_period(p, 240), 1.0, 1e-3) << to_string(shape);
  }
  const RateProfile meal(RateShape::meal, 240);
  const double quiet = meal.multiplier(3 * 10 + 5);   // 03:30
  const double lunch = meal.multiplier(12 * 10 + 5);  // 12:30
  const double dinner = meal.multiplier(18 * 10);     // 18:00
  EXPECT_NEAR(lunch / quiet, 3.0, 1e-9);
  EXPECT_NEAR(dinner / quiet, 3.0, 1e-9);
  EXPECT_NEAR(meal.multiplier(8 * 10), quiet, 1e-9);  // 08:00 is no meal time
  const RateProfile rush(RateShape::rush, 240);
  EXPECT_GT(rush.multiplier(8 * 10), rush.multiplier(12 * 10));  // 08:00 rush, noon quiet
  // The period repeats.
  EXPECT_DOUBLE_EQ(meal.multiplier(125), meal.multiplier(125 + 240));
}

TEST(RateProfile, OpenLoopScheduleKeepsTheMeanRate) {
  const RateProfile p(RateShape::rush, 100);
  double t = 0;
  int sent = 0;
  while (t < 100) {
    t = p.next_send(t, 50);
    ++sent;
  }
  EXPECT_NEAR(sent, 5000, 100);
}

TEST(RateProfile, NoPeriodMeansSteadyAndNamesRoundTrip) {
  EXPECT_DOUBLE_EQ(RateProfile(RateShape::meal, 0).multiplier(5), 1.0);
  for (auto s : {RateShape::steady, RateShape::meal, RateShape::rush}) {
    EXPECT_EQ(rate_shape_from(to_string(s)), s);
  }
  EXPECT_EQ(rate_shape_from("lunch"), std::nullopt);
}

}  // namespace
}  // namespace yktgw::sim
