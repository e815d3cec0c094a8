#include "gateway/credentials/replay_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace yktgw {
namespace {

using Verdict = ReplayCache::Verdict;

// A cache whose monotonic clock the test sets; `at` checks a key with the wall clock and the
// monotonic clock both at `now` (no clock step), `at_steady` with them apart.
class Cache {
 public:
  explicit Cache(std::size_t capacity) : cache_(capacity) {}
  Verdict at(const std::string& key, UtcMillis expires, UtcMillis now) {
    return at_steady(key, expires, now, now);
  }
  Verdict at_steady(const std::string& key, UtcMillis expires, UtcMillis wall, std::int64_t mono) {
    return cache_.check_and_record(key, expires, wall, mono);
  }
  std::size_t size() const { return cache_.size(); }

 private:
  ReplayCache cache_;
};

TEST(ReplayCache, HoldsAKeyUntilItsExpiryInclusive) {
  Cache cache(10);
  EXPECT_EQ(cache.at("a", 100, 0), Verdict::fresh);
  EXPECT_EQ(cache.at("a", 100, 50), Verdict::replayed);
  EXPECT_EQ(cache.at("a", 100, 100), Verdict::replayed);
  // After its expiry the entry no longer counts (the decoder has declined it as expired by then).
  EXPECT_EQ(cache.at("a", 300, 101), Verdict::fresh);
  EXPECT_EQ(cache.at("a", 300, 200), Verdict::replayed);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(ReplayCache, FullOfUnexpiredEntriesRefusesRatherThanEvicts) {
  Cache cache(3);
  EXPECT_EQ(cache.at("a", 100, 0), Verdict::fresh);
  EXPECT_EQ(cache.at("b", 200, 0), Verdict::fresh);
  EXPECT_EQ(cache.at("c", 300, 0), Verdict::fresh);
  EXPECT_EQ(cache.at("d", 400, 0), Verdict::full);
  // Nothing was evicted to make room: every held key is still a replay.
  for (const char* k : {"a", "b", "c"})
    EXPECT_EQ(cache.at(k, 999, 0), Verdict::replayed);
  // Once "a" expires its room is reused; "b" and "c" stay.
  EXPECT_EQ(cache.at("d", 400, 101), Verdict::fresh);
  EXPECT_EQ(cache.at("e", 500, 101), Verdict::full);
  EXPECT_EQ(cache.at("b", 200, 101), Verdict::replayed);
  EXPECT_EQ(cache.size(), 3u);
}

TEST(ReplayCache, EvictsEveryExpiredEntry) {
  Cache cache(1000);
  for (int i = 0; i < 1000; ++i)
    ASSERT_EQ(cache.at("k" + std::to_string(i), i, 0), Verdict::fresh);
  EXPECT_EQ(cache.at("late", 5000, 2000), Verdict::fresh);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(ReplayCache, ExtendedEntryIsNotDroppedByItsOldSlot) {
  Cache cache(10);
  EXPECT_EQ(cache.at("a", 100, 0), Verdict::fresh);
  EXPECT_EQ(cache.at("a", 500, 150), Verdict::fresh);  // re-used after expiry
  EXPECT_EQ(cache.at("x", 600, 200), Verdict::fresh);  // evicts the old slot
  EXPECT_EQ(cache.at("a", 500, 300), Verdict::replayed);
  EXPECT_EQ(cache.at("y", 700, 501), Verdict::fresh);  // now "a" goes
  EXPECT_EQ(cache.size(), 2u);
}

// The wall clock steps an hour forward and back while only seconds pass: a code used before the
// step stays held, so it cannot be used again once the clock is right (the decoder declines it
// as expired or not yet valid while the clock is wrong).
TEST(ReplayCache, WallClockStepsDoNotShortenOrStretchTheHold) {
  Cache cache(10);
  constexpr UtcMillis kHour = 3'600'000;
  EXPECT_EQ(cache.at_steady("used", 60'000, 0, 0), Verdict::fresh);
  // +1 h on the wall, 1 s really passed: other codes come and go, "used" is not evicted.
  EXPECT_EQ(cache.at_steady("other", kHour + 60'000, kHour, 1'000), Verdict::fresh);
  EXPECT_EQ(cache.size(), 2u);
  // The clock is set right, 5 s after the first use: "used" is still a replay.
  EXPECT_EQ(cache.at_steady("used", 60'000, 5'000, 5'000), Verdict::replayed);
  // A step back does not hold it past its real validity (60 s after the first use).
  EXPECT_EQ(cache.at_steady("used", 60'000, -kHour, 60'001), Verdict::fresh);
}

TEST(ReplayCache, ConcurrentInsertersAgree) {
  Cache cache(100'000);
  constexpr int kThreads = 4;
  constexpr int kKeys = 5000;
  std::atomic<int> fresh{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kKeys; ++i) {
        if (cache.at("n" + std::to_string(i), 1000 + i, i / 10) == Verdict::fresh)
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
