#include "terminals_sim/sim/txn_tracker.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace yktgw::sim {
namespace {

using Ms = std::chrono::milliseconds;
using Strings = std::vector<std::string>;

class TxnTrackerTest : public ::testing::Test {
 protected:
  TxnTracker::TimePoint at(int ms) const { return t0_ + Ms(ms); }
  TxnTracker::TimePoint t0_ = TxnTracker::Clock::now();
  TxnTracker tracker_{Ms(2000)};
};

TEST_F(TxnTrackerTest, NewRecordIsDueAtOnce) {
  EXPECT_TRUE(tracker_.add("sim-0001-1", 0, "{}", at(0)));
  EXPECT_EQ(tracker_.next_due(), at(0));
  EXPECT_EQ(tracker_.take_due(at(0)), Strings{"sim-0001-1"});
  EXPECT_FALSE(tracker_.published("sim-0001-1", at(0)));  // the first publish is no resend
  EXPECT_EQ(tracker_.size(), 1u);
}

TEST_F(TxnTrackerTest, DuplicateAddRefused) {
  EXPECT_TRUE(tracker_.add("a", 0, "x", at(0)));
  EXPECT_FALSE(tracker_.add("a", 0, "y", at(0)));
  EXPECT_EQ(tracker_.find("a")->payload, "x");
}

TEST_F(TxnTrackerTest, ResendsDoubleUpToTenSeconds) {
  tracker_.add("a", 3, "payload", at(0));
  ASSERT_EQ(tracker_.take_due(at(0)).size(), 1u);
  tracker_.published("a", at(0));
  // Waits: 2, 4, 8, 10, 10 s.
  int now = 0;
  for (int wait : {2000, 4000, 8000, 10000, 10000}) {
    EXPECT_TRUE(tracker_.take_due(at(now + wait - 1)).empty()) << wait;
    EXPECT_EQ(tracker_.next_due(), at(now + wait));
    now += wait;
    ASSERT_EQ(tracker_.take_due(at(now)), Strings{"a"}) << wait;
    EXPECT_TRUE(tracker_.published("a", at(now)));
  }
  EXPECT_EQ(tracker_.find("a")->publishes, 6u);
  EXPECT_EQ(tracker_.find("a")->terminal, 3u);
  EXPECT_EQ(tracker_.find("a")->payload, "payload");  // resent byte-identical
}

TEST_F(TxnTrackerTest, AckSettlesOnceAndStopsResends) {
  tracker_.add("a", 0, "p", at(0));
  tracker_.take_due(at(0));
  tracker_.published("a", at(0));
  const auto settled = tracker_.settle("a");
  ASSERT_TRUE(settled.has_value());
  EXPECT_EQ(settled->txn_id, "a");
  EXPECT_FALSE(tracker_.settle("a").has_value());  // a second ack after a resend
  EXPECT_FALSE(tracker_.settle("never-sent").has_value());
  EXPECT_TRUE(tracker_.empty());
  EXPECT_TRUE(tracker_.take_due(at(60000)).empty());
  EXPECT_EQ(tracker_.next_due(), std::nullopt);
}

TEST_F(TxnTrackerTest, RefusedPublishRetriesWithoutBackoff) {
  tracker_.add("a", 0, "p", at(0));
  tracker_.take_due(at(0));
  tracker_.refused("a", at(5));
  EXPECT_TRUE(tracker_.take_due(at(4)).empty());
  ASSERT_EQ(tracker_.take_due(at(5)), Strings{"a"});
  EXPECT_FALSE(tracker_.published("a", at(5)));  // still the first real publish
  EXPECT_EQ(tracker_.next_due(), at(2005));
}

TEST_F(TxnTrackerTest, TakenRecordIsParkedUntilReported) {
  tracker_.add("a", 0, "p", at(0));
  tracker_.take_due(at(0));
  EXPECT_TRUE(tracker_.take_due(at(100000)).empty());
  EXPECT_EQ(tracker_.next_due(), std::nullopt);
  EXPECT_EQ(tracker_.size(), 1u);  // still held
}

TEST_F(TxnTrackerTest, DueInTimeOrder) {
  tracker_.add("c", 0, "", at(30));
  tracker_.add("a", 0, "", at(10));
  tracker_.add("b", 1, "", at(20));
  EXPECT_EQ(tracker_.take_due(at(25)), (Strings{"a", "b"}));
  EXPECT_EQ(tracker_.take_due(at(30)), Strings{"c"});
}

TEST_F(TxnTrackerTest, ReconnectMakesThatTerminalsRecordsDueAtOnce) {
  for (const char* id : {"a", "b"}) {
    tracker_.add(id, 0, "", at(0));
  }
  tracker_.add("other", 1, "", at(0));
  for (const auto& id : tracker_.take_due(at(0))) tracker_.published(id, at(0));
  EXPECT_TRUE(tracker_.take_due(at(100)).empty());
  EXPECT_EQ(tracker_.make_due_now(0, at(100)), 2u);
  auto due = tracker_.take_due(at(100));
  std::sort(due.begin(), due.end());
  EXPECT_EQ(due, (Strings{"a", "b"}));
  EXPECT_TRUE(tracker_.published("a", at(100)));  // counts as a resend, backoff doubles
  EXPECT_EQ(tracker_.find("a")->due, at(4100));
  EXPECT_EQ(tracker_.find("other")->due, at(2000));  // the other terminal is untouched
}

TEST_F(TxnTrackerTest, FirstResendAboveCapKeepsItsOwnWait) {
  TxnTracker slow(Ms(15000));
  slow.add("a", 0, "", at(0));
  slow.take_due(at(0));
  slow.published("a", at(0));
  EXPECT_EQ(slow.next_due(), at(15000));
  slow.take_due(at(15000));
  slow.published("a", at(15000));
  EXPECT_EQ(slow.next_due(), at(30000));
}

}  // namespace
}  // namespace yktgw::sim
