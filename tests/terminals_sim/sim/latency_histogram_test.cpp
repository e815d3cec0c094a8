#include "terminals_sim/sim/latency_histogram.h"

#include <gtest/gtest.h>

#include <random>

namespace yktgw::sim {
namespace {

TEST(LatencyHistogram, EmptyIsZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.percentile_us(0.5), 0u);
  EXPECT_EQ(h.max_us(), 0u);
}

TEST(LatencyHistogram, SmallValuesAreExact) {
  LatencyHistogram h;
  for (std::uint64_t v = 1; v <= 100; ++v) h.record_us(v);
  EXPECT_EQ(h.count(), 100u);
  EXPECT_EQ(h.percentile_us(0.50), 50u);
  EXPECT_EQ(h.percentile_us(0.90), 90u);
  EXPECT_EQ(h.percentile_us(0.99), 99u);
  EXPECT_EQ(h.percentile_us(1.0), 100u);
  EXPECT_EQ(h.percentile_us(0.0), 1u);
  EXPECT_EQ(h.max_us(), 100u);
}

TEST(LatencyHistogram, OrderDoesNotMatter) {
  LatencyHistogram a;
  LatencyHistogram b;
  for (std::uint64_t v = 1; v <= 1000; ++v) a.record_us(v * 37);
  for (std::uint64_t v = 1000; v >= 1; --v) b.record_us(v * 37);
  for (double q : {0.1, 0.5, 0.9, 0.99}) EXPECT_EQ(a.percentile_us(q), b.percentile_us(q));
}

TEST(LatencyHistogram, LargeValuesWithinOneSixtyFourth) {
  // 1..1000 ms: the true p50/p90/p99 are 500, 900, 990 ms.
  LatencyHistogram h;
  for (std::uint64_t ms = 1; ms <= 1000; ++ms) h.record_us(ms * 1000);
  for (auto [q, want] : {std::pair{0.50, 500'000.0}, {0.90, 900'000.0}, {0.99, 990'000.0}}) {
    const auto got = static_cast<double>(h.percentile_us(q));
    EXPECT_GE(got, want) << q;  // rounded up to the bucket edge, never down
    EXPECT_LE(got, want * (1 + 1.0 / 64)) << q;
  }
  EXPECT_EQ(h.max_us(), 1'000'000u);
  EXPECT_EQ(h.percentile_us(1.0), 1'000'000u);  // clamped to the exact maximum
}

TEST(LatencyHistogram, SkewedDistribution) {
  // 98 fast answers at 200 us, one at 5 ms, one at 88 ms (a Nagle stall).
  LatencyHistogram h;
  for (int i = 0; i < 98; ++i) h.record_us(200);
  h.record_us(5000);
  h.record_us(88000);
  EXPECT_NEAR(static_cast<double>(h.percentile_us(0.50)), 200, 200.0 / 64);
  EXPECT_NEAR(static_cast<double>(h.percentile_us(0.98)), 200, 200.0 / 64);
  EXPECT_NEAR(static_cast<double>(h.percentile_us(0.99)), 5000, 5000.0 / 64);
  EXPECT_EQ(h.percentile_us(1.0), 88000u);
  EXPECT_EQ(h.max_us(), 88000u);
}

TEST(LatencyHistogram, RandomDataAgainstSortedTruth) {
  std::mt19937_64 rng(5);
  std::lognormal_distribution<double> dist(7.0, 1.5);  // median ~1.1 ms, long tail
  std::vector<std::uint64_t> values;
  LatencyHistogram h;
  for (int i = 0; i < 20000; ++i) {
    const auto v = static_cast<std::uint64_t>(dist(rng));
    values.push_back(v);
    h.record_us(v);
  }
  std::sort(values.begin(), values.end());
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    const auto rank = static_cast<std::size_t>(std::ceil(q * values.size()));
    const double truth = static_cast<double>(values[rank - 1]);
    const double got = static_cast<double>(h.percentile_us(q));
    EXPECT_GE(got, truth) << q;
    EXPECT_LE(got, truth * (1 + 1.0 / 64) + 1) << q;
  }
}

TEST(LatencyHistogram, DurationsAndNegativeValues) {
  LatencyHistogram h;
  h.record(std::chrono::microseconds(1500));
  h.record(std::chrono::nanoseconds(-5));
  EXPECT_EQ(h.count(), 2u);
  EXPECT_EQ(h.percentile_us(0.5), 0u);
  EXPECT_EQ(h.max_us(), 1500u);
}

TEST(LatencyHistogram, ExtremeValues) {
  LatencyHistogram h;
  h.record_us(UINT64_MAX);
  h.record_us(0);
  EXPECT_EQ(h.percentile_us(1.0), UINT64_MAX);
  EXPECT_EQ(h.percentile_us(0.5), 0u);
}

TEST(LatencyHistogram, Merge) {
  LatencyHistogram a;
  LatencyHistogram b;
  for (std::uint64_t v = 1; v <= 50; ++v) a.record_us(v);
  for (std::uint64_t v = 51; v <= 100; ++v) b.record_us(v);
  a.merge(b);
  EXPECT_EQ(a.count(), 100u);
  EXPECT_EQ(a.percentile_us(0.9), 90u);
  EXPECT_EQ(a.max_us(), 100u);
}

}  // namespace
}  // namespace yktgw::sim
