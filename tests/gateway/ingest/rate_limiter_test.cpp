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
  TerminalRateLimiter limiter(10, 10);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(limiter.admit("ct-0001", t0), Verdict::allow) << i;
  EXPECT_EQ(limiter.admit("ct-0001", t0), Verdict::refuse_with_reply);
  EXPECT_EQ(limiter.admit("ct-0001", t0), Verdict::refuse_silently);
  // 50 ms at 10/s is half a token; 100 ms a whole one.
  EXPECT_EQ(limiter.admit("ct-0001", t0 + milliseconds(50)), Verdict::refuse_silently);
  EXPECT_EQ(limiter.admit("ct-0001", t0 + milliseconds(100)), Verdict::allow);
  EXPECT_EQ(limiter.admit("ct-0001", t0 + milliseconds(100)), Verdict::refuse_silently);
  // Within a second of the last reply refusals stay silent; after it the terminal is told again.
  int allowed = 0;
  for (int i = 0; i < 20; ++i) {
    const auto v = limiter.admit("ct-0001", t0 + milliseconds(999));
    EXPECT_NE(v, Verdict::refuse_with_reply);
    allowed += v == Verdict::allow ? 1 : 0;
  }
  EXPECT_EQ(allowed, 8);  // 8.99 tokens refilled in the 899 ms since the last one was spent
  EXPECT_EQ(limiter.admit("ct-0001", t0 + milliseconds(1000)), Verdict::allow);  // 0.99 + 0.01
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
  for (int i = 0; i < 10'000; ++i) {
    (void)limiter.admit("t" + std::to_string(i), t0);
    ASSERT_LE(limiter.tracked_terminals(), 100u);
  }
}

TEST(TerminalRateLimiter, IdleBucketsAreTheFirstToGo) {
  TerminalRateLimiter limiter(10, 10, /*max_terminals=*/100);
  for (int i = 0; i < 99; ++i) (void)limiter.admit("idle" + std::to_string(i), t0);
  // Busy, and out of tokens 50 ms before the table fills up.
  for (int i = 0; i < 20; ++i) (void)limiter.admit("busy", t0 + milliseconds(4950));
  ASSERT_EQ(limiter.tracked_terminals(), 100u);
  // Full: a new terminal prunes the buckets that would be full again by now (the idle ones).
  EXPECT_EQ(limiter.admit("new", t0 + std::chrono::seconds(5)), Verdict::allow);
  EXPECT_EQ(limiter.tracked_terminals(), 2u);
  // The busy terminal kept its state: still out of tokens.
  EXPECT_NE(limiter.admit("busy", t0 + std::chrono::seconds(5)), Verdict::allow);
}

}  // namespace
}  // namespace yktgw
