#include "gateway/status/series.h"

#include <gtest/gtest.h>

namespace yktgw::status {
namespace {

StatusSnapshot snap(UtcMillis now, std::uint64_t approved, std::uint64_t declined,
                    std::uint64_t stored, std::uint64_t backlog) {
  StatusSnapshot s;
  s.now_ms = now;
  s.approved = approved;
  s.declined = declined;
  s.txn_stored = stored;
  LinkView l;
  l.destination = "district";
  l.backlog = backlog;
  s.links.push_back(l);
  return s;
}

TEST(Latency, QuantilesInterpolateInsideTheBucket) {
  LatencySnapshot s;
  EXPECT_EQ(latency_quantile_us(s, 0.5), 0);
  s.counts[3] = 100;  // (500, 1000] us
  EXPECT_DOUBLE_EQ(latency_quantile_us(s, 0.5), 750);
  EXPECT_DOUBLE_EQ(latency_quantile_us(s, 0.99), 995);
  s.counts[kLatencyBuckets - 1] = 100;  // beyond the largest bound
  EXPECT_DOUBLE_EQ(latency_quantile_us(s, 0.99), 10'000'000);
  EXPECT_DOUBLE_EQ(latency_quantile_us(s, 0.5), 1000);
}

TEST(Latency, BucketsCountAndSubtract) {
  LatencyBuckets b;
  b.add(50);
  b.add(100);
  b.add(101);
  b.add(20'000'000);
  const auto first = b.snapshot();
  EXPECT_EQ(first.counts[0], 2U);
  EXPECT_EQ(first.counts[1], 1U);
  EXPECT_EQ(first.counts[kLatencyBuckets - 1], 1U);
  EXPECT_EQ(first.sum_us, 20'000'251U);
  b.add(700);
  const auto d = b.snapshot().minus(first);
  EXPECT_EQ(d.total(), 1U);
  EXPECT_EQ(d.counts[3], 1U);
}

TEST(Series, RatesFromConsecutiveSnapshots) {
  StatusSnapshot a = snap(10'000, 100, 10, 50, 7);
  a.declined_by_reason = {{"card_lost", 4}};
  StatusSnapshot b = snap(12'000, 120, 16, 90, 3);
  b.declined_by_reason = {{"card_lost", 8}, {"unknown_card", 2}};
  b.auth_latency.counts[3] = 26;
  const SeriesSample s = derive_sample(a, b, 2.0);
  EXPECT_EQ(s.t_ms, 12'000);
  EXPECT_DOUBLE_EQ(s.approved_per_s, 10);
  EXPECT_DOUBLE_EQ(s.declined_per_s, 3);
  EXPECT_DOUBLE_EQ(s.declined_per_s_by_reason.at("card_lost"), 2);
  EXPECT_DOUBLE_EQ(s.declined_per_s_by_reason.at("unknown_card"), 1);
  EXPECT_DOUBLE_EQ(s.txn_per_s, 20);
  EXPECT_EQ(s.outbox_backlog.at("district"), 3U);
  EXPECT_GT(s.latency_p50_ms, 0.5);
  EXPECT_LE(s.latency_p99_ms, 1.0);
}

TEST(Series, CounterGoingBackwardsIsNotANegativeRate) {
  const SeriesSample s = derive_sample(snap(0, 100, 0, 0, 0), snap(1000, 5, 0, 0, 0), 1.0);
  EXPECT_EQ(s.approved_per_s, 0);
}

TEST(Series, RingKeepsTheNewestInOrder) {
  SeriesRing ring(3);
  EXPECT_TRUE(ring.samples().empty());
  for (int i = 0; i <= 5; ++i) ring.add(snap(1000 * i, 10U * i, 0, 0, 0), 1000 * i);
  const auto all = ring.samples();
  ASSERT_EQ(all.size(), 3U);
  EXPECT_EQ(all[0].t_ms, 3000);
  EXPECT_EQ(all[1].t_ms, 4000);
  EXPECT_EQ(all[2].t_ms, 5000);
  EXPECT_DOUBLE_EQ(all[2].approved_per_s, 10);
  const auto since = ring.samples(3000);
  ASSERT_EQ(since.size(), 2U);
  EXPECT_EQ(since[0].t_ms, 4000);
}

}  // namespace
}  // namespace yktgw::status
