#include "terminals_sim/platform_https/received_store.h"

#include <gtest/gtest.h>

#include "tests/gateway/outbox/outbox_test_util.h"

namespace yktgw::platform {
namespace {

std::vector<outbox::ForwardedRecord> records(int from, int count, const std::string& gateway,
                                             const std::string& site = "xiangkou") {
  std::vector<outbox::ForwardedRecord> out;
  for (int i = from; i < from + count; ++i) {
    outbox::ForwardedRecord f;
    f.seq = static_cast<std::uint64_t>(i);
    f.gateway = gateway;
    f.record = testing::txn(i, 51);
    f.record.site = site;
    out.push_back(std::move(f));
  }
  return out;
}

TEST(ReceivedStore, DeduplicatesBySiteTerminalAndTxnId) {
  testing::TempDir dir("received");
  auto store = ReceivedStore::open(dir.file("p.db"));
  ASSERT_TRUE(store) << store.error().message;
  EXPECT_EQ(*store->accept("crossprov", "gw1", "gw1-crossprov-1-10", records(1, 10, "gw1"), 5),
            (AcceptCounts{10, 0}));
  EXPECT_EQ(*store->accept("crossprov", "gw1", "gw1-crossprov-6-15", records(6, 10, "gw1"), 6),
            (AcceptCounts{5, 5}));
  // The same terminal and txn ids at another site, or at another platform, are other records.
  EXPECT_EQ(
      *store->accept("crossprov", "gw2", "gw2-crossprov-1-3", records(1, 3, "gw2", "baishi"), 7),
      (AcceptCounts{3, 0}));
  EXPECT_EQ(*store->accept("district", "gw1", "gw1-district-1-3", records(1, 3, "gw1"), 8),
            (AcceptCounts{3, 0}));
  EXPECT_EQ(*store->accept("crossprov", "gw1", "gw1-crossprov-1-10", records(1, 10, "gw1"), 9),
            (AcceptCounts{0, 10}));

  const auto counts = store->counts();
  ASSERT_TRUE(counts);
  EXPECT_EQ(*counts, (std::vector<SourceCount>{{"crossprov", "gw1", 15, 15},
                                               {"crossprov", "gw2", 3, 0},
                                               {"district", "gw1", 3, 0}}));
  EXPECT_EQ(*count_received(dir.file("p.db")), *counts);
  EXPECT_EQ(format_counts(*counts),
            "platform\tsource_gateway\tunique\tduplicates\n"
            "crossprov\tgw1\t15\t15\ncrossprov\tgw2\t3\t0\ndistrict\tgw1\t3\t0\n");
  const auto ids = store->txn_ids("crossprov", "gw2");
  EXPECT_EQ(*ids, (std::vector<std::string>{"ct:1", "ct:2", "ct:3"}));
}

TEST(ReceivedStore, ARecordFromTwoGatewaysOfOneSiteIsOneRecord) {
  testing::TempDir dir("received-group");
  auto store = ReceivedStore::open(dir.file("p.db"));
  ASSERT_TRUE(store) << store.error().message;
  // Two members of a shared group: the killed one had stored 1..4, the other stored 3..8 when
  // the terminal resent the records whose acks were lost.
  EXPECT_EQ(*store->accept("district", "gw-a", "gw-a-district-1-4", records(1, 4, "gw-a"), 5),
            (AcceptCounts{4, 0}));
  EXPECT_EQ(*store->accept("district", "gw-b", "gw-b-district-1-6", records(3, 6, "gw-b"), 6),
            (AcceptCounts{4, 2}));
  const auto counts = store->counts();
  ASSERT_TRUE(counts);
  EXPECT_EQ(*counts,
            (std::vector<SourceCount>{{"district", "gw-a", 4, 2}, {"district", "gw-b", 4, 0}}));
}

TEST(ReceivedStore, SharesAFileThatUsesUserVersionForItsOwnTables) {
  testing::TempDir dir("received");
  {
    auto db = sqlite::Database::open(dir.file("platform.db"), true);
    ASSERT_TRUE(db->exec("CREATE TABLE auth (x INTEGER); PRAGMA user_version = 3;"));
  }
  {
    auto store = ReceivedStore::open(dir.file("platform.db"));
    ASSERT_TRUE(store) << store.error().message;
    ASSERT_TRUE(store->accept("crossprov", "gw1", "b", records(1, 2, "gw1"), 1));
  }
  auto again = ReceivedStore::open(dir.file("platform.db"));  // reopening migrates nothing
  ASSERT_TRUE(again) << again.error().message;
  auto db = sqlite::Database::open(dir.file("platform.db"), false);
  auto st = db->prepare("PRAGMA user_version");
  ASSERT_EQ(sqlite3_step(st->get()), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st->get(), 0), 3) << "the other tables' version is untouched";
  EXPECT_EQ(count_received(dir.file("platform.db"))->at(0).unique, 2u);
}

TEST(ReceivedStore, KeepsTheKindAndCountsByKind) {
  testing::TempDir dir("received");
  {
    auto store = ReceivedStore::open(dir.file("p.db"));
    ASSERT_TRUE(store) << store.error().message;
    auto batch = records(1, 4, "gw1");
    batch[1].record.kind = RecordKind::attendance;
    batch[1].record.txn_id = "attendance@1@r-2";
    EXPECT_EQ(*store->accept("district", "gw1", "gw1-district-1-4", batch, 5),
              (AcceptCounts{4, 0}));
  }
  auto all = count_received(dir.file("p.db"));
  ASSERT_TRUE(all) << all.error().message;
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].unique, 4u);
  auto att = count_received(dir.file("p.db"), "attendance");
  ASSERT_TRUE(att) << att.error().message;
  ASSERT_EQ(att->size(), 1u);
  EXPECT_EQ((*att)[0].unique, 1u);
  auto txn = count_received(dir.file("p.db"), "txn");
  ASSERT_TRUE(txn);
  ASSERT_EQ(txn->size(), 1u);
  EXPECT_EQ((*txn)[0].unique, 3u);
}

TEST(ReceivedStore, CountOnAFileWithoutTheTables) {
  testing::TempDir dir("received");
  {
    auto db = sqlite::Database::open(dir.file("empty.db"), true);
    ASSERT_TRUE(db->exec("CREATE TABLE other (x INTEGER)"));
  }
  auto c = count_received(dir.file("empty.db"));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(c->empty());
  EXPECT_FALSE(count_received(dir.file("missing.db")));
}

}  // namespace
}  // namespace yktgw::platform
