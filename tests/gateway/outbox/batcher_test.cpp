#include "gateway/outbox/batcher.h"

#include <gtest/gtest.h>

#include "gateway/outbox/backoff.h"

namespace yktgw::outbox {
namespace {

using std::chrono::milliseconds;
using T = Batcher::TimePoint;

const T t0 = T(std::chrono::seconds(100));

TEST(Batcher, ClosesByCount) {
  Batcher b({3, 1 << 20, milliseconds(200)});
  EXPECT_FALSE(b.add(10, "a\n", 5, t0));
  EXPECT_FALSE(b.add(11, "b\n", 4, t0));
  auto c = b.add(14, "c\n", 6, t0);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->first_seq, 10u);
  EXPECT_EQ(c->last_seq, 14u);
  EXPECT_EQ(c->count, 3u);
  EXPECT_EQ(c->lines, "a\nb\nc\n");
  EXPECT_EQ(c->oldest_received_ms, 4);
  EXPECT_EQ(b.open_count(), 0u);
  EXPECT_FALSE(b.deadline());
}

TEST(Batcher, ClosesByBytesAndCarriesTheLineOver) {
  Batcher b({100, 10, milliseconds(200)});
  EXPECT_FALSE(b.add(1, "aaaa\n", 1, t0));  // 5 bytes
  EXPECT_FALSE(b.add(2, "bbbb\n", 1, t0));  // 10: exactly full is allowed
  auto c = b.add(3, "cc\n", 1, t0 + milliseconds(50));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->lines, "aaaa\nbbbb\n");
  EXPECT_EQ(c->last_seq, 2u);
  EXPECT_EQ(b.open_count(), 1u);
  EXPECT_EQ(*b.deadline(), t0 + milliseconds(250)) << "linger restarts with the carried line";
  // A line bigger than the budget travels alone.
  auto d = b.add(4, std::string(50, 'x') + "\n", 1, t0);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->lines, "cc\n");
  auto e = b.close();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->count, 1u);
  EXPECT_EQ(e->first_seq, 4u);
}

TEST(Batcher, ClosesByLinger) {
  Batcher b({500, 1 << 20, milliseconds(200)});
  EXPECT_FALSE(b.close_if_due(t0));
  EXPECT_FALSE(b.add(7, "x\n", 1, t0));
  EXPECT_FALSE(b.add(8, "y\n", 1, t0 + milliseconds(150)));
  EXPECT_FALSE(b.close_if_due(t0 + milliseconds(199)));
  EXPECT_EQ(*b.open_oldest_received_ms(), 1);
  auto c = b.close_if_due(t0 + milliseconds(200));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->count, 2u);
  EXPECT_FALSE(b.close());
}

TEST(Batcher, OneRecordBatches) {
  Batcher b({1, 4, milliseconds(0)});
  for (std::uint64_t i = 1; i <= 3; ++i) {
    auto c = b.add(i, "long line\n", 1, t0);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->count, 1u);
    EXPECT_EQ(c->first_seq, i);
  }
}

TEST(Backoff, CapDoublesUpToTheMaximum) {
  const Backoff b(milliseconds(500), milliseconds(60'000));
  std::vector<std::int64_t> caps;
  for (int f = 1; f <= 9; ++f) caps.push_back(b.cap(f).count());
  EXPECT_EQ(caps,
            (std::vector<std::int64_t>{500, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000}));
  EXPECT_EQ(b.cap(1000).count(), 60000);
}

TEST(Backoff, FullJitterFloorAndMinimum) {
  const Backoff b(milliseconds(500), milliseconds(60'000));
  EXPECT_EQ(b.delay(3, 1.0).count(), 2000);
  EXPECT_EQ(b.delay(3, 0.25).count(), 500);
  EXPECT_EQ(b.delay(3, 0.0).count(), 1) << "never zero: a retry must not spin";
  EXPECT_EQ(b.delay(1, 0.1, milliseconds(5000)).count(), 5000) << "Retry-After is a floor";
  EXPECT_EQ(b.delay(9, 1.0, milliseconds(5000)).count(), 60000);
  EXPECT_EQ(b.delay(2, 7.0).count(), 1000) << "draws are clamped to [0, 1]";
}

TEST(Backoff, RetryAfterFromDetail) {
  EXPECT_EQ(retry_after_from_detail("http 429 retry_after_ms=2000: slow down").count(), 2000);
  EXPECT_EQ(retry_after_from_detail("http 503").count(), 0);
  EXPECT_EQ(retry_after_from_detail("retry_after_ms=x").count(), 0);
  EXPECT_EQ(retry_after_from_detail("retry_after_ms=").count(), 0);
}

}  // namespace
}  // namespace yktgw::outbox
