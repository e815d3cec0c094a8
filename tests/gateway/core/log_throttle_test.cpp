#include "gateway/core/log_throttle.h"

#include <gtest/gtest.h>

namespace yktgw {
namespace {

using namespace std::chrono_literals;
using TimePoint = std::chrono::steady_clock::time_point;

// A fixed origin far from the clock's epoch, so "zero" never means "unset".
const TimePoint kT0 = TimePoint{} + 1000h;

TEST(LogThrottle, FirstIsAllowedWithNothingSuppressed) {
  SharedLogThrottle limit(10s);
  std::uint64_t suppressed = 99;
  EXPECT_TRUE(limit.allow("k", kT0, suppressed));
  EXPECT_EQ(suppressed, 0u);
}

TEST(LogThrottle, HoldsWithinTheIntervalAndReportsTheCountAfterIt) {
  SharedLogThrottle limit(10s);
  std::uint64_t suppressed = 0;
  ASSERT_TRUE(limit.allow("k", kT0, suppressed));
  EXPECT_FALSE(limit.allow("k", kT0 + 1s, suppressed));
  EXPECT_FALSE(limit.allow("k", kT0 + 5s, suppressed));
  EXPECT_FALSE(limit.allow("k", kT0 + 9999ms, suppressed));
  EXPECT_TRUE(limit.allow("k", kT0 + 10s, suppressed));
  EXPECT_EQ(suppressed, 3u);
  // The count starts again and the interval is measured from the last allowed one.
  EXPECT_FALSE(limit.allow("k", kT0 + 15s, suppressed));
  EXPECT_TRUE(limit.allow("k", kT0 + 20s, suppressed));
  EXPECT_EQ(suppressed, 1u);
  EXPECT_TRUE(limit.allow("k", kT0 + 60s, suppressed));
  EXPECT_EQ(suppressed, 0u);
}

TEST(LogThrottle, KeysAreIndependent) {
  SharedLogThrottle limit(10s);
  std::uint64_t suppressed = 0;
  ASSERT_TRUE(limit.allow("malformed_json", kT0, suppressed));
  EXPECT_TRUE(limit.allow("missing_field", kT0, suppressed));
  EXPECT_FALSE(limit.allow("malformed_json", kT0 + 1s, suppressed));
  EXPECT_FALSE(limit.allow("missing_field", kT0 + 1s, suppressed));
}

TEST(LogThrottle, SetIntervalAppliesToTheNextCall) {
  SharedLogThrottle limit(1h);
  std::uint64_t suppressed = 0;
  ASSERT_TRUE(limit.allow("k", kT0, suppressed));
  EXPECT_FALSE(limit.allow("k", kT0 + 1s, suppressed));
  limit.set_interval(0ms);
  EXPECT_TRUE(limit.allow("k", kT0 + 1s, suppressed));
  EXPECT_EQ(suppressed, 1u);
  EXPECT_TRUE(limit.allow("k", kT0 + 1s, suppressed));
  EXPECT_EQ(suppressed, 0u);
}

}  // namespace
}  // namespace yktgw
