#include "gateway/outbox/retention.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <set>
#include <sstream>

#include "gateway/outbox/disk_quota.h"
#include "gateway/outbox/outbox_config.h"
#include "gateway/outbox/outbox_db.h"
#include "tests/gateway/outbox/outbox_test_util.h"

namespace yktgw::outbox {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using testing::StoreFixture;
using testing::TempDir;

constexpr std::int64_t kDay = 24LL * 3600 * 1000;

class RetentionTest : public ::testing::Test {
 protected:
  RetentionOptions options() const {
    RetentionOptions o;
    o.records_db = dir_.file("records.db");
    o.outbox_db = dir_.file("outbox.db");
    o.retention_days = 30;
    o.prune_batch_rows = 7;  // several statements even in small tests
    o.wal_checkpoint_bytes = 256 * 1024;
    o.pause_between_batches = 0ms;
    return o;
  }

  std::unique_ptr<RetentionPruner> pruner(const Router& router) {
    auto p = RetentionPruner::open(options(), router, clock_, testing::quiet_log());
    EXPECT_TRUE(p) << (p ? "" : p.error().message);
    return p ? std::move(p.value()) : nullptr;
  }

  std::set<std::int64_t> remaining() {
    auto db = sqlite::Database::open(dir_.file("records.db"), false);
    auto st = db->prepare("SELECT seq FROM txn ORDER BY seq");
    std::set<std::int64_t> out;
    while (sqlite3_step(st->get()) == SQLITE_ROW) out.insert(sqlite3_column_int64(st->get(), 0));
    return out;
  }

  void set_cursor(const std::string& dest, std::uint64_t seq) {
    ASSERT_TRUE(outbox_.advance_cursor(dest, seq, clock_.wall_ms()));
  }

  static std::set<std::int64_t> range(std::int64_t from, std::int64_t to) {
    std::set<std::int64_t> out;
    for (auto i = from; i <= to; ++i) out.insert(i);
    return out;
  }

  TempDir dir_;
  FakeClock clock_;
  StoreFixture store_{dir_.file("records.db")};
  OutboxDb outbox_ = std::move(OutboxDb::open(dir_.file("outbox.db")).value());
  Router router_{*route_table_from(UpstreamConfig{})};
};

TEST_F(RetentionTest, PrunesOnlyOldRowsEveryDestinationAcked) {
  const std::int64_t old = clock_.wall_ms() - 31 * kDay;
  store_.add_many(1, 20, 50, old);                // district
  store_.add_many(21, 10, 51, old);               // crossprov
  store_.add_many(31, 10, 50, clock_.wall_ms());  // district, young
  set_cursor("district", 40);
  set_cursor("crossprov", 25);
  StoredBatch dead;
  dead.id = "gw1-district-5-8";
  dead.destination = "district";
  dead.first_seq = 5;
  dead.last_seq = 8;
  dead.count = 4;
  ASSERT_TRUE(outbox_.insert_batch(dead));
  ASSERT_TRUE(outbox_.dead_letter_batch(dead, "http 400", clock_.wall_ms()));

  auto p = pruner(router_);
  auto r = p->prune(/*any_age=*/false);
  ASSERT_TRUE(r) << r.error().message;
  std::set<std::int64_t> expect = range(5, 8);    // a dead letter's records stay
  for (auto s : range(26, 30)) expect.insert(s);  // crossprov has not acked them
  for (auto s : range(31, 40)) expect.insert(s);  // younger than the retention
  EXPECT_EQ(remaining(), expect);
  EXPECT_EQ(r->deleted, 40u - expect.size());
  EXPECT_GT(r->statements, 1u);

  // Once the letter is resolved and crossprov catches up, they go too.
  auto letters = outbox_.dead_letters("", false);
  StoredBatch resend;
  resend.id = "gw1-district-5-8-r1";
  resend.dead_letter_id = (*letters)[0].id;
  ASSERT_TRUE(outbox_.finish_retry(resend, true, "", clock_.wall_ms()));
  set_cursor("crossprov", 30);
  ASSERT_TRUE(p->prune(false));
  EXPECT_EQ(remaining(), range(31, 40));
}

TEST_F(RetentionTest, AnyAgeStillNeverDeletesAnUnackedRow) {
  store_.add_many(1, 10, 50);
  store_.add_many(11, 10, 51);
  store_.add_many(21, 10, 50);
  set_cursor("district", 25);  // 21..25 acked by the district, 26..30 not
  auto p = pruner(router_);
  auto r = p->prune(/*any_age=*/true);
  ASSERT_TRUE(r);
  std::set<std::int64_t> expect = range(11, 20);  // crossprov never acked
  for (auto s : range(26, 30)) expect.insert(s);
  EXPECT_EQ(remaining(), expect);

  int calls = 0;
  set_cursor("district", 30);
  r = p->prune(true, [&] { return ++calls <= 1; });  // one statement, then stop
  ASSERT_TRUE(r);
  EXPECT_EQ(r->statements, 1u);
}

TEST_F(RetentionTest, CopyAllMeansTheDistrictMustAckEverything) {
  UpstreamConfig u;
  u.copy_all_to_district = true;
  const Router router(*route_table_from(u));
  store_.add_many(1, 10, 51);
  set_cursor("crossprov", 10);
  auto p = pruner(router);
  ASSERT_TRUE(p->prune(true));
  EXPECT_EQ(remaining().size(), 10u);
  set_cursor("district", 10);
  ASSERT_TRUE(p->prune(true));
  EXPECT_TRUE(remaining().empty());
}

TEST_F(RetentionTest, CheckpointKeepsTheWalBounded) {
  const std::string wal = dir_.file("records.db") + "-wal";
  // A reader holding an old snapshot keeps every checkpoint from resetting the WAL: the WAL
  // grows the way it does when checkpoints are starved.
  auto reader = sqlite::Database::open(dir_.file("records.db"), false);
  ASSERT_TRUE(reader);
  ASSERT_TRUE(reader->exec("BEGIN"));
  auto st = reader->prepare("SELECT COUNT(*) FROM txn");
  ASSERT_EQ(sqlite3_step(st->get()), SQLITE_ROW);
  store_.add_many(1, 6000);
  const auto grown = file_size_or_zero(wal);
  EXPECT_GT(grown, 1024u * 1024u);

  auto p = pruner(router_);
  auto blocked = p->checkpoint();
  ASSERT_TRUE(blocked) << blocked.error().message;
  EXPECT_TRUE(blocked->ran);
  EXPECT_FALSE(blocked->complete) << "cannot finish under the old snapshot";

  st = sqlite::Statement();
  ASSERT_TRUE(reader->exec("COMMIT"));
  auto done = p->checkpoint();
  ASSERT_TRUE(done);
  EXPECT_TRUE(done->complete);
  EXPECT_EQ(done->wal_bytes_before, grown);
  EXPECT_EQ(done->wal_bytes_after, 0u);
  EXPECT_EQ(remaining().size(), 6000u) << "a checkpoint loses nothing";

  // Below the threshold nothing runs.
  store_.add_many(6001, 10);
  auto idle = p->checkpoint();
  ASSERT_TRUE(idle);
  EXPECT_FALSE(idle->ran);

  // The housekeeper does the same on its rounds.
  auto quota = DiskQuota::open({dir_.file("records.db"), dir_.file("outbox.db"), 0, 0.95},
                               testing::quiet_log());
  ASSERT_TRUE(quota);
  Housekeeper keeper(*p, **quota, {}, testing::quiet_log());
  ASSERT_TRUE(reader->exec("BEGIN"));
  st = std::move(reader->prepare("SELECT COUNT(*) FROM txn").value());
  ASSERT_EQ(sqlite3_step(st->get()), SQLITE_ROW);
  store_.add_many(7000, 3000);
  st = sqlite::Statement();
  ASSERT_TRUE(reader->exec("COMMIT"));
  EXPECT_GT(file_size_or_zero(wal), options().wal_checkpoint_bytes);
  keeper.run_once(false);
  EXPECT_LE(file_size_or_zero(wal), options().wal_checkpoint_bytes);
}

TEST_F(RetentionTest, QuotaFlagRisesAndClearsWithHysteresis) {
  store_.add_many(1, 3000, 50);
  auto p = pruner(router_);
  ASSERT_TRUE(p->checkpoint(true));  // the WAL counts too; start from an empty one
  const DiskQuotaOptions base{dir_.file("records.db"), dir_.file("outbox.db"), 0, 0.95};
  auto unlimited = DiskQuota::open(base, testing::quiet_log());
  ASSERT_TRUE(unlimited);
  EXPECT_FALSE((*unlimited)->over_quota());
  const DiskUsage u = (*unlimited)->usage();
  EXPECT_GT(u.records_bytes, 500u * 1024u);
  EXPECT_EQ(u.records_wal_bytes, 0u);
  EXPECT_GT(u.outbox_bytes, 0u);

  DiskQuotaOptions tight = base;
  tight.quota_bytes = u.total();
  auto quota = DiskQuota::open(tight, testing::quiet_log());
  ASSERT_TRUE(quota);
  EXPECT_TRUE((*quota)->over_quota()) << "at the quota counts as over";

  // Nothing is acked: the housekeeper prunes nothing and the alarm stays.
  Housekeeper keeper(*p, **quota, {}, testing::quiet_log());
  keeper.run_once(true);
  EXPECT_TRUE((*quota)->over_quota());
  EXPECT_EQ(remaining().size(), 3000u);

  // Once the district has acked them, quota pressure prunes regardless of age, and the alarm
  // clears below the resume level.
  set_cursor("district", 3000);
  keeper.run_once(false);
  EXPECT_FALSE((*quota)->over_quota());
  EXPECT_LT(remaining().size(), 3000u);
  EXPECT_LT((*quota)->usage().total(), tight.quota_bytes * 95 / 100);
}

// The quota as the gateway wires it (gateway_app.cpp): the record store asks the DiskQuota that
// measures the same records.db. At the quota neither a terminal's transaction nor an attendance
// record is written; once acked records are pruned below the resume level, both are.
TEST_F(RetentionTest, AtTheMeasuredQuotaTheStoreWritesNoRecordOfAnyKind) {
  store_.add_many(1, 3000, 50);
  auto p = pruner(router_);
  ASSERT_TRUE(p->checkpoint(true));
  const DiskQuotaOptions base{dir_.file("records.db"), dir_.file("outbox.db"), 0, 0.95};
  auto unlimited = DiskQuota::open(base, testing::quiet_log());
  ASSERT_TRUE(unlimited);
  DiskQuotaOptions tight = base;
  tight.quota_bytes = (*unlimited)->usage().total();
  auto quota = DiskQuota::open(tight, testing::quiet_log());
  ASSERT_TRUE(quota);
  ASSERT_TRUE((*quota)->over_quota());
  SqliteRecordStore& store = store_.store();
  store.set_quota([q = quota->get()] { return q->over_quota(); });

  auto clock_in = [](const std::string& req_id) {
    TxnRecord r = testing::txn(9000);
    r.kind = RecordKind::attendance;
    r.txn_id = "attendance@1718000000000@" + req_id;
    r.req_id = req_id;
    r.amount_fen = 0;
    return r;
  };
  auto kinds = [&] {
    auto db = sqlite::Database::open(dir_.file("records.db"), false);
    auto st = db->prepare(
        "SELECT count(*) FILTER (WHERE kind = 'txn'), "
        "count(*) FILTER (WHERE kind = 'attendance') FROM txn");
    EXPECT_EQ(sqlite3_step(st->get()), SQLITE_ROW);
    return std::pair{sqlite3_column_int64(st->get(), 0), sqlite3_column_int64(st->get(), 1)};
  };
  // Completions run on the writer; flush() returns after they ran.
  std::vector<StoreOutcome> outcomes;
  auto keep = [&outcomes](StoreOutcome o) { outcomes.push_back(o); };

  ASSERT_TRUE(store.submit(testing::txn(3001), keep));
  ASSERT_TRUE(store.submit(clock_in("r-1"), keep));
  store.flush();
  EXPECT_EQ(outcomes, (std::vector{StoreOutcome::over_quota, StoreOutcome::over_quota}));
  EXPECT_EQ(kinds(), (std::pair<sqlite3_int64, sqlite3_int64>{3000, 0}));

  set_cursor("district", 3000);
  Housekeeper keeper(*p, **quota, {}, testing::quiet_log());
  keeper.run_once(false);
  ASSERT_FALSE((*quota)->over_quota());
  const auto pruned = kinds();
  outcomes.clear();
  ASSERT_TRUE(store.submit(testing::txn(3001), keep));
  ASSERT_TRUE(store.submit(clock_in("r-1"), keep));
  store.flush();
  EXPECT_EQ(outcomes, (std::vector{StoreOutcome::stored, StoreOutcome::stored}));
  EXPECT_EQ(kinds(), (std::pair<sqlite3_int64, sqlite3_int64>{pruned.first + 1, 1}));
  store.set_quota({});  // the quota goes before the store does
}

// A busy second fills the WAL past a small quota while what the files keep stays below it: the
// housekeeper gives the WAL back before the alarm can rise, so it does not rise (and clear a
// moment later, every second).
TEST_F(RetentionTest, AFullWalThatACheckpointGivesBackRaisesNoQuotaAlarm) {
  store_.add_many(1, 1000, 50);
  auto p = pruner(router_);
  ASSERT_TRUE(p->checkpoint(true));
  DiskQuotaOptions o{dir_.file("records.db"), dir_.file("outbox.db"), 0, 0.95};
  auto probe = DiskQuota::open(o, testing::quiet_log());
  ASSERT_TRUE(probe);
  o.quota_bytes = (*probe)->usage().total() + 256 * 1024;
  std::ostringstream said;
  auto quota =
      DiskQuota::open(o, std::make_shared<spdlog::logger>(
                             "quota", std::make_shared<spdlog::sinks::ostream_sink_mt>(said)));
  ASSERT_TRUE(quota);
  ASSERT_FALSE((*quota)->over_quota());

  // One row per commit: each commit writes whole pages to the WAL, which outgrows the margin
  // long before the rows do.
  for (std::int64_t seq = 1001; seq <= 1200; ++seq) store_.add_many(seq, 1, 50);
  const auto before = (*quota)->measure();
  ASSERT_TRUE(before);
  ASSERT_GE(before->total(), o.quota_bytes) << "the WAL did not grow past the quota";
  ASSERT_LT(before->records_bytes + before->outbox_bytes, o.quota_bytes);

  Housekeeper keeper(*p, **quota, {}, testing::quiet_log());
  keeper.run_once(false);
  EXPECT_FALSE((*quota)->over_quota());
  EXPECT_EQ(said.str().find("disk quota reached"), std::string::npos) << said.str();
  EXPECT_LT((*quota)->usage().total(), o.quota_bytes);
  EXPECT_EQ(remaining().size(), 1200u) << "nothing acked, nothing pruned";
}

TEST_F(RetentionTest, HousekeeperThreadStartsAndStops) {
  auto p = pruner(router_);
  auto quota = DiskQuota::open({dir_.file("records.db"), dir_.file("outbox.db"), 0, 0.95},
                               testing::quiet_log());
  ASSERT_TRUE(quota);
  Housekeeper keeper(*p, **quota, {10ms, 20ms}, testing::quiet_log());
  keeper.start();
  std::this_thread::sleep_for(60ms);
  keeper.stop();
  keeper.stop();
}

}  // namespace
}  // namespace yktgw::outbox
