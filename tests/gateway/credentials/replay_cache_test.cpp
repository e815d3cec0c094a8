#include "gateway/credentials/replay_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace yktgw {
namespace {

using Verdict = ReplayCache::Verdict;

TEST(ReplayCache, HoldsAKeyUntilItsExpiryInclusive) {
  ReplayCache cache(10);
  EXPECT_EQ(cache.check_and_record("a", 100, 0), Verdict::fresh);
  EXPECT_EQ(cache.check_and_record("a", 100, 50), Verdict::replayed);
  EXPECT_EQ(cache.check_and_record("a", 100, 100), Verdict::replayed);
  // After its expiry the entry no longer counts (the decoder has declined it as expired by then).
  EXPECT_EQ(cache.check_and_record("a", 300, 101), Verdict::fresh);
  EXPECT_EQ(cache.check_and_record("a", 300, 200), Verdict::replayed);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(ReplayCache, FullOfUnexpiredEntriesRefusesRatherThanEvicts) {
  ReplayCache cache(3);
  EXPECT_EQ(cache.check_and_record("a", 100, 0), Verdict::fresh);
  EXPECT_EQ(cache.check_and_record("b", 200, 0), Verdict::fresh);
  EXPECT_EQ(cache.check_and_record("c", 300, 0), Verdict::fresh);
  EXPECT_EQ(cache.check_and_record("d", 400, 0), Verdict::full);
  // Nothing was evicted to make room: every held key is still a replay.
  for (const char* k : {"a", "b", "c"})
    EXPECT_EQ(cache.check_and_record(k, 999, 0), Verdict::replayed);
  // Once "a" expires its room is reused; "b" and "c" stay.
  EXPECT_EQ(cache.check_and_record("d", 400, 101), Verdict::fresh);
  EXPECT_EQ(cache.check_and_record("e", 500, 101), Verdict::full);
  EXPECT_EQ(cache.check_and_record("b", 200, 101), Verdict::replayed);
  EXPECT_EQ(cache.size(), 3u);
}

TEST(ReplayCache, EvictsEveryExpiredEntry) {
  ReplayCache cache(1000);
  for (int i = 0; i < 1000; ++i)
    ASSERT_EQ(cache.check_and_record("k" + std::to_string(i), i, 0), Verdict::fresh);
  EXPECT_EQ(cache.check_and_record("late", 5000, 2000), Verdict::fresh);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(ReplayCache, ExtendedEntryIsNotDroppedByItsOldSlot) {
  ReplayCache cache(10);
  EXPECT_EQ(cache.check_and_record("a", 100, 0), Verdict::fresh);
  EXPECT_EQ(cache.check_and_record("a", 500, 150), Verdict::fresh);  // re-used after expiry
  EXPECT_EQ(cache.check_and_record("x", 600, 200), Verdict::fresh);  // evicts the old slot
  EXPECT_EQ(cache.check_and_record("a", 500, 300), Verdict::replayed);
  EXPECT_EQ(cache.check_and_record("y", 700, 501), Verdict::fresh);  // now "a" goes
  EXPECT_EQ(cache.size(), 2u);
}

TEST(ReplayCache, ConcurrentInsertersAgree) {
  ReplayCache cache(100'000);
  constexpr int kThreads = 4;
  constexpr int kKeys = 5000;
  std::atomic<int> fresh{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kKeys; ++i) {
        if (cache.check_and_record("n" + std::to_string(i), 1000 + i, i / 10) == Verdict::fresh)
          ++fresh;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(fresh.load(), kKeys);
  EXPECT_EQ(cache.size(), static_cast<std::size_t>(kKeys));
}

}  // namespace
}  // namespace yktgw
