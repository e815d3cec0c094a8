#include "gateway/ingest/rate_limiter.h"

#include <gtest/gtest.h>

namespace yktgw {
namespace {

using Verdict = TerminalRateLimiter::Verdict;
using std::chrono::milliseconds;

const TerminalRateLimiter::TimePoint t0{std::chrono::seconds(1000)};

TEST(TerminalRateLimiter, DisabledAllowsEverything) {
  TerminalRateLimiter limiter(0, 0);
  EXPECT_FALSE(limiter.enabled());
  for (int i = 0; i < 10'000; ++i) ASSERT_EQ(limiter.admit("ct-0001", t0), Verdict::allow);
  EXPECT_EQ(limiter.tracked_terminals(), 0u);
}

TEST(TerminalRateLimiter, BurstThenRefusesWithOneReplyPerSecond) {
  TerminalRateLimiter limiter(10, 5);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(limiter.admit("ct-0001", t0), Verdict::allow) << i;
  EXPECT_EQ(limiter.admit("ct-0001", t0), Verdict::refuse_with_reply);
  EXPECT_EQ(limiter.admit("ct-0001", t0), Verdict::refuse_silently);
  EXPECT_EQ(limiter.admit("ct-0001", t0 + milliseconds(50)), Verdict::refuse_silently);
  // 100 ms at 10/s is one token.
  EXPECT_EQ(limiter.admit("ct-0001", t0 + milliseconds(100)), Verdict::allow);
  EXPECT_EQ(limiter.admit("ct-0001", t0 + milliseconds(100)), Verdict::refuse_silently);
  // A second after the last reply the terminal is told again.
  EXPECT_EQ(limiter.admit("ct-0001", t0 + milliseconds(1000) - milliseconds(1)), Verdict::allow);
  for (int i = 0; i < 20; ++i) (void)limiter.admit("ct-0001", t0 + milliseconds(999));
  EXPECT_EQ(limiter.admit("ct-0001", t0 + milliseconds(1000)), Verdict::refuse_with_reply);
}

TEST(TerminalRateLimiter, TerminalsHaveTheirOwnBuckets) {
  TerminalRateLimiter limiter(1, 1);
  EXPECT_EQ(limiter.admit("ct-0001", t0), Verdict::allow);
  EXPECT_NE(limiter.admit("ct-0001", t0), Verdict::allow);
  EXPECT_EQ(limiter.admit("ct-0002", t0), Verdict::allow);
  EXPECT_EQ(limiter.tracked_terminals(), 2u);
}

TEST(TerminalRateLimiter, SustainedRateIsTheConfiguredOne) {
  TerminalRateLimiter limiter(50, 50);
  int allowed = 0;
  // 10 s of a terminal sending every millisecond.
  for (int ms = 0; ms < 10'000; ++ms) {
    if (limiter.admit("flood", t0 + milliseconds(ms)) == Verdict::allow) ++allowed;
  }
  EXPECT_GE(allowed, 50 * 10);
  EXPECT_LE(allowed, 50 * 10 + 50 + 1);
}

TEST(TerminalRateLimiter, BurstBelowRateMeansTheRate) {
  TerminalRateLimiter limiter(20, 1);
  int allowed = 0;
  for (int i = 0; i < 100; ++i) allowed += limiter.admit("t", t0) == Verdict::allow ? 1 : 0;
  EXPECT_EQ(allowed, 20);
}

TEST(TerminalRateLimiter, MadeUpIdsCannotGrowTheTableWithoutBound) {
  TerminalRateLimiter limiter(10, 10, /*max_terminals=*/100);
  for (int i = 0; i < 10'000; ++i) (void)limiter.admit("t" + std::to_string(i), t0);
  EXPECT_LE(limiter.tracked_terminals(), 100u);
  // Idle buckets are the first to go: after they refill, a new id prunes them all.
  for (int i = 0; i < 99; ++i) (void)limiter.admit("u" + std::to_string(i), t0);
  (void)limiter.admit("late", t0 + std::chrono::seconds(5));
  EXPECT_EQ(limiter.tracked_terminals(), 1u);
}

}  // namespace
}  // namespace yktgw
