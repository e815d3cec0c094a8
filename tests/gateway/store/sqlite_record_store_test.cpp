#include "gateway/store/sqlite_record_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "gateway/store/sqlite_util.h"
#include "tests/common/temp_dir.h"

namespace yktgw {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

TxnRecord record(std::string terminal, std::string txn_id) {
  TxnRecord r;
  r.txn_id = std::move(txn_id);
  r.req_id = "r-" + r.txn_id;
  r.site = "xiangkou";
  r.terminal = std::move(terminal);
  r.scenario = "canteen";
  r.ts_ms = 1718000000500;
  r.received_ms = 1718000000600;
  r.card.type = CredentialType::card;
  r.card.token = std::string(64, 'a');
  r.card.masked = "500156********1234";
  r.amount_fen = 600;
  r.result = TxnResult::approved;
  return r;
}

// Collects completions from the writer thread.
class Outcomes {
 public:
  RecordStore::Completion add() {
    std::lock_guard lock(mu_);
    const std::size_t i = outcomes_.size();
    outcomes_.push_back(std::nullopt);
    return [this, i](StoreOutcome o) {
      std::lock_guard lock(mu_);
      outcomes_[i] = o;
    };
  }
  std::vector<std::optional<StoreOutcome>> get() const {
    std::lock_guard lock(mu_);
    return outcomes_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::optional<StoreOutcome>> outcomes_;
};

// A separate connection to the file, as an operator's query or the upstream sender would have.
class Reader {
 public:
  explicit Reader(const std::string& path) {
    auto db = sqlite::Database::open(path, /*create=*/false, /*read_only=*/true);
    EXPECT_TRUE(db.ok()) << (db.ok() ? "" : db.error().message);
    if (db.ok()) db_ = std::move(db.value());
  }
  std::int64_t scalar(const std::string& sql) const {
    auto st = db_.prepare(sql);
    EXPECT_TRUE(st.ok()) << sql;
    if (!st.ok() || sqlite3_step(st->get()) != SQLITE_ROW) return -1;
    return sqlite3_column_int64(st->get(), 0);
  }
  std::int64_t rows() const { return scalar("SELECT count(*) FROM txn"); }

 private:
  sqlite::Database db_;
};

std::unique_ptr<SqliteRecordStore> open_store(RecordStoreOptions options) {
  auto s = SqliteRecordStore::open(options, nullptr);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return s.ok() ? std::move(s.value()) : nullptr;
}

RecordStoreOptions options_for(const std::string& path) {
  RecordStoreOptions o;
  o.path = path;
  o.synchronous_full = false;  // durability is not under test; keep the tests fast
  return o;
}

// Keeps records in the queue until close() (or a full batch): the linger never ends by itself
// within a test.
RecordStoreOptions holding_options(const std::string& path, int capacity) {
  RecordStoreOptions o = options_for(path);
  o.commit_linger_ms = 60'000;
  o.commit_max_records = capacity + 100;
  o.queue_capacity = capacity;
  return o;
}

TEST(SqliteRecordStore, StoresEverySubmittedRecord) {
  TempDir dir;
  auto store = open_store(options_for(dir.file("txn.db")));
  ASSERT_TRUE(store);
  Outcomes outcomes;
  constexpr int kN = 50;
  for (int i = 0; i < kN; ++i)
    ASSERT_TRUE(store->submit(record("ct-1", "ct-1:" + std::to_string(i)), outcomes.add()));
  store->flush();
  auto got = outcomes.get();
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kN));
  for (const auto& o : got) EXPECT_EQ(o, StoreOutcome::stored);
  EXPECT_EQ(Reader(dir.file("txn.db")).rows(), kN);
  auto st = store->stats();
  EXPECT_EQ(st.stored, static_cast<std::uint64_t>(kN));
  EXPECT_EQ(st.duplicates, 0u);
  EXPECT_EQ(st.failed, 0u);
  EXPECT_EQ(st.queued, 0u);
  EXPECT_GE(st.commits, 1u);
  EXPECT_LE(st.commits, static_cast<std::uint64_t>(kN));
}

TEST(SqliteRecordStore, SameTerminalAndTxnIdAgainIsADuplicate) {
  TempDir dir;
  auto store = open_store(options_for(dir.file("txn.db")));
  ASSERT_TRUE(store);
  Outcomes outcomes;
  ASSERT_TRUE(store->submit(record("ct-1", "ct-1:7"), outcomes.add()));
  store->flush();
  TxnRecord again = record("ct-1", "ct-1:7");
  again.amount_fen = 999;  // a resend is identified by its ids, not compared field by field
  ASSERT_TRUE(store->submit(again, outcomes.add()));
  store->flush();
  auto got = outcomes.get();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], StoreOutcome::stored);
  EXPECT_EQ(got[1], StoreOutcome::duplicate);
  Reader reader(dir.file("txn.db"));
  EXPECT_EQ(reader.rows(), 1);
  EXPECT_EQ(reader.scalar("SELECT amount_fen FROM txn"), 600);
  EXPECT_EQ(store->stats().duplicates, 1u);
  EXPECT_EQ(store->stats().stored, 1u);
}

TEST(SqliteRecordStore, DuplicateWithinOneBatch) {
  TempDir dir;
  auto store = open_store(holding_options(dir.file("txn.db"), 10));
  ASSERT_TRUE(store);
  Outcomes outcomes;
  ASSERT_TRUE(store->submit(record("ct-1", "ct-1:1"), outcomes.add()));
  ASSERT_TRUE(store->submit(record("ct-1", "ct-1:1"), outcomes.add()));
  ASSERT_TRUE(store->submit(record("ct-1", "ct-1:2"), outcomes.add()));
  store->close();  // the three go in one batch
  auto got = outcomes.get();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], StoreOutcome::stored);
  EXPECT_EQ(got[1], StoreOutcome::duplicate);
  EXPECT_EQ(got[2], StoreOutcome::stored);
  EXPECT_EQ(store->stats().commits, 1u);
  EXPECT_EQ(Reader(dir.file("txn.db")).rows(), 2);
}

TEST(SqliteRecordStore, UniquenessIsPerTerminal) {
  TempDir dir;
  auto store = open_store(options_for(dir.file("txn.db")));
  ASSERT_TRUE(store);
  Outcomes outcomes;
  ASSERT_TRUE(store->submit(record("ct-1", "000123"), outcomes.add()));
  ASSERT_TRUE(store->submit(record("ct-2", "000123"), outcomes.add()));
  store->flush();
  auto got = outcomes.get();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], StoreOutcome::stored);
  EXPECT_EQ(got[1], StoreOutcome::stored);
  EXPECT_EQ(Reader(dir.file("txn.db")).scalar("SELECT count(DISTINCT terminal) FROM txn"), 2);
}

TEST(SqliteRecordStore, CompletionRunsOnlyAfterTheRowIsVisibleToOtherConnections) {
  TempDir dir;
  const std::string path = dir.file("txn.db");
  auto store = open_store(options_for(path));
  ASSERT_TRUE(store);
  std::mutex mu;
  std::vector<std::int64_t> seen;  // rows with the record's txn_id, seen from inside completion
  for (int i = 0; i < 5; ++i) {
    const std::string id = "ct-1:" + std::to_string(i);
    ASSERT_TRUE(store->submit(record("ct-1", id), [&, id](StoreOutcome o) {
      EXPECT_EQ(o, StoreOutcome::stored);
      Reader reader(path);
      std::int64_t n = reader.scalar("SELECT count(*) FROM txn WHERE txn_id = '" + id + "'");
      std::lock_guard lock(mu);
      seen.push_back(n);
    }));
  }
  store->flush();
  std::lock_guard lock(mu);
  ASSERT_EQ(seen.size(), 5u);
  for (auto n : seen) EXPECT_EQ(n, 1);
}

TEST(SqliteRecordStore, FlushWaitsForCommitAndCompletions) {
  TempDir dir;
  RecordStoreOptions o = options_for(dir.file("txn.db"));
  o.commit_linger_ms = 20;  // flush must sit out the linger, not return early
  auto store = open_store(o);
  ASSERT_TRUE(store);
  std::atomic<int> done{0};
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(store->submit(record("ct-1", std::to_string(i)), [&](StoreOutcome) { ++done; }));
  store->flush();
  EXPECT_EQ(done.load(), 20);
  EXPECT_EQ(Reader(dir.file("txn.db")).rows(), 20);
  EXPECT_EQ(store->stats().queued, 0u);
}

TEST(SqliteRecordStore, CloseCommitsWhatIsQueued) {
  TempDir dir;
  auto store = open_store(holding_options(dir.file("txn.db"), 100));
  ASSERT_TRUE(store);
  Outcomes outcomes;
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(store->submit(record("ct-1", std::to_string(i)), outcomes.add()));
  EXPECT_EQ(store->stats().queued, 10u);  // held by the linger
  store->close();
  for (const auto& o : outcomes.get()) EXPECT_EQ(o, StoreOutcome::stored);
  EXPECT_EQ(Reader(dir.file("txn.db")).rows(), 10);
  // Closed: nothing more is taken, and the completion of a refused record never runs.
  bool ran = false;
  EXPECT_FALSE(store->submit(record("ct-1", "late"), [&](StoreOutcome) { ran = true; }));
  store->close();  // idempotent
  EXPECT_FALSE(ran);
  EXPECT_EQ(Reader(dir.file("txn.db")).rows(), 10);
}

TEST(SqliteRecordStore, SubmitReturnsFalseWhenTheQueueIsFull) {
  TempDir dir;
  auto store = open_store(holding_options(dir.file("txn.db"), 3));
  ASSERT_TRUE(store);
  Outcomes outcomes;
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(store->submit(record("ct-1", std::to_string(i)), outcomes.add()));
  bool ran = false;
  EXPECT_FALSE(store->submit(record("ct-1", "3"), [&](StoreOutcome) { ran = true; }));
  EXPECT_EQ(store->stats().queued, 3u);
  store->close();
  EXPECT_FALSE(ran);
  EXPECT_EQ(Reader(dir.file("txn.db")).rows(), 3);
}

TEST(SqliteRecordStore, ValuesRoundTrip) {
  TempDir dir;
  auto store = open_store(options_for(dir.file("txn.db")));
  ASSERT_TRUE(store);
  TxnRecord a = record("ct-0001", "ct-0001:000123");
  a.card.token = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  a.amount_fen = 1'000'000'000;
  a.ts_ms = 1718000000123;
  a.received_ms = 1718000000456;
  TxnRecord b = record("ct-0002", "ct-0002:9");
  b.req_id = "";  // an offline tap
  b.card = CardRef{CredentialType::other, "", "", "cash"};
  b.amount_fen = 0;
  b.result = TxnResult::declined;
  b.reason = "card_lost";
  b.scenario = "library";
  ASSERT_TRUE(store->submit(a, nullptr));  // a completion is optional
  ASSERT_TRUE(store->submit(b, nullptr));
  store->flush();

  auto db = sqlite::Database::open(dir.file("txn.db"), false, true);
  ASSERT_TRUE(db.ok());
  auto st = db->prepare(
      "SELECT txn_id, req_id, site, terminal, scenario, ts_ms, received_ms, cred_type, card_token,"
      " card_masked, cred_method, amount_fen, result, reason FROM txn ORDER BY seq");
  ASSERT_TRUE(st.ok());
  std::vector<TxnRecord> back;
  while (sqlite3_step(st->get()) == SQLITE_ROW) {
    TxnRecord r;
    r.txn_id = st->column_text(0);
    r.req_id = st->column_text(1);
    r.site = st->column_text(2);
    r.terminal = st->column_text(3);
    r.scenario = st->column_text(4);
    r.ts_ms = sqlite3_column_int64(st->get(), 5);
    r.received_ms = sqlite3_column_int64(st->get(), 6);
    r.card.type = credential_type_from(st->column_text(7)).value_or(CredentialType::ykm_qr);
    r.card.token = st->column_text(8);
    r.card.masked = st->column_text(9);
    r.card.method = st->column_text(10);
    r.amount_fen = sqlite3_column_int64(st->get(), 11);
    r.result = st->column_text(12) == "declined" ? TxnResult::declined : TxnResult::approved;
    r.reason = st->column_text(13);
    EXPECT_TRUE(st->column_text(12) == "approved" || st->column_text(12) == "declined");
    back.push_back(r);
  }
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0], a);
  EXPECT_EQ(back[1], b);
}

TEST(SqliteRecordStore, FreshFileGetsSchemaVersionOne) {
  TempDir dir;
  {
    auto store = open_store(options_for(dir.file("txn.db")));
    ASSERT_TRUE(store);
  }
  Reader reader(dir.file("txn.db"));
  EXPECT_EQ(reader.scalar("PRAGMA user_version"), 3);
  EXPECT_EQ(static_cast<std::int64_t>(SqliteRecordStore::migrations().size()), 3);
  EXPECT_EQ(reader.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'txn'"), 1);
}

TEST(SqliteRecordStore, ReopeningKeepsRecordsAndDuplicateDetection) {
  TempDir dir;
  {
    auto store = open_store(options_for(dir.file("txn.db")));
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->submit(record("ct-1", "1"), nullptr));
  }  // the destructor closes and commits
  auto store = open_store(options_for(dir.file("txn.db")));
  ASSERT_TRUE(store);
  Outcomes outcomes;
  ASSERT_TRUE(store->submit(record("ct-1", "1"), outcomes.add()));
  store->flush();
  EXPECT_EQ(outcomes.get().at(0), StoreOutcome::duplicate);
  EXPECT_EQ(Reader(dir.file("txn.db")).scalar("PRAGMA user_version"), 3);
}

TEST(SqliteRecordStore, KeepsTheKindOfARecord) {
  TempDir dir;
  auto store = open_store(options_for(dir.file("txn.db")));
  ASSERT_TRUE(store);
  TxnRecord att = record("gt-1", "attendance@1718000000000@r-1");
  att.kind = RecordKind::attendance;
  ASSERT_TRUE(store->submit(record("gt-1", "gt-1:1"), nullptr));
  ASSERT_TRUE(store->submit(att, nullptr));
  store->flush();
  Reader reader(dir.file("txn.db"));
  EXPECT_EQ(reader.scalar("SELECT count(*) FROM txn WHERE kind = 'txn'"), 1);
  EXPECT_EQ(reader.scalar("SELECT count(*) FROM txn WHERE kind = 'attendance'"), 1);
  EXPECT_EQ(reader.scalar("SELECT count(*) FROM txn WHERE kind = 'attendance' AND "
                          "txn_id = 'attendance@1718000000000@r-1'"),
            1);
}

TEST(SqliteRecordStore, AVersionTwoFileGetsKindTxnForItsRows) {
  TempDir dir;
  const std::string path = dir.file("txn.db");
  {
    auto db = sqlite::Database::open(path, true);
    ASSERT_TRUE(db.ok());
    const auto& m = SqliteRecordStore::migrations();
    ASSERT_TRUE(
        sqlite::migrate(*db, std::vector<std::string_view>(m.begin(), m.begin() + 2), path).ok());
    ASSERT_TRUE(db->exec("INSERT INTO txn (terminal, txn_id, req_id, site, scenario, ts_ms, "
                         "received_ms, cred_type, card_token, card_masked, cred_method, "
                         "amount_fen, result, reason) VALUES ('ct-1', 'ct-1:1', '', 'x', "
                         "'canteen', 1, 1, 'card', '', '', '', 100, 'approved', '')")
                    .ok());
  }
  auto store = open_store(options_for(path));
  ASSERT_TRUE(store);
  store->close();
  Reader reader(path);
  EXPECT_EQ(reader.scalar("PRAGMA user_version"), 3);
  EXPECT_EQ(reader.scalar("SELECT count(*) FROM txn WHERE kind = 'txn'"), 1);
}

TEST(SqliteRecordStore, RefusesASchemaNewerThanTheCode) {
  TempDir dir;
  const std::string path = dir.file("txn.db");
  {
    auto db = sqlite::Database::open(path, true);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->exec("CREATE TABLE future (x INTEGER); PRAGMA user_version = 99").ok());
  }
  auto s = SqliteRecordStore::open(options_for(path), nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "schema_too_new");
  EXPECT_NE(s.error().message.find("99"), std::string::npos) << s.error().message;
  // The newer file is left as it was.
  EXPECT_EQ(Reader(path).scalar("PRAGMA user_version"), 99);
}

TEST(SqliteRecordStore, ACorruptFileIsAnErrorNotACrash) {
  TempDir dir;
  const std::string path = dir.file("txn.db");
  {
    std::mt19937 rng(12345);
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < 8192; ++i) out.put(static_cast<char>(rng() & 0xff));
  }
  auto s = SqliteRecordStore::open(options_for(path), nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_FALSE(s.error().code.empty());
  EXPECT_FALSE(s.error().message.empty());
}

TEST(SqliteRecordStore, AnUnopenablePathIsAnError) {
  TempDir dir;
  auto s = SqliteRecordStore::open(options_for(dir.file("no/such/dir/txn.db")), nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "sqlite_open");
}

// A clock-in the gateway records itself (policy/attendance.h), in the shape the engine gives it.
TxnRecord attendance(std::string terminal, const std::string& req_id) {
  TxnRecord r = record(std::move(terminal), "attendance@1718000000000@" + req_id);
  r.kind = RecordKind::attendance;
  r.req_id = req_id;
  r.scenario = "gate_site";
  r.amount_fen = 0;
  return r;
}

// The disk quota is one rule for every kind of record: below it a terminal's transaction and an
// attendance record are both written; at it neither is (nor a resend that would be a duplicate),
// the database is not touched, and the store is still healthy; below it again both are written.
TEST(SqliteRecordStore, AtTheQuotaNoRecordOfAnyKindIsWrittenBelowItEveryKindIs) {
  TempDir dir;
  const std::string path = dir.file("records.db");
  auto store = open_store(options_for(path));
  ASSERT_TRUE(store);
  std::atomic<bool> at_quota{false};
  store->set_quota([&at_quota] { return at_quota.load(); });
  Reader reader(path);
  auto count_of = [&](const char* kind) {
    return reader.scalar(std::string("SELECT count(*) FROM txn WHERE kind = '") + kind + "'");
  };

  Outcomes below;
  ASSERT_TRUE(store->submit(record("gt-1", "gt-1:1"), below.add()));
  ASSERT_TRUE(store->submit(attendance("gt-1", "r-1"), below.add()));
  store->flush();
  EXPECT_EQ(below.get(),
            (std::vector<std::optional<StoreOutcome>>{StoreOutcome::stored, StoreOutcome::stored}));
  EXPECT_EQ(count_of("txn"), 1);
  EXPECT_EQ(count_of("attendance"), 1);

  at_quota = true;
  Outcomes at;
  ASSERT_TRUE(store->submit(record("gt-1", "gt-1:2"), at.add()));
  ASSERT_TRUE(store->submit(attendance("gt-1", "r-2"), at.add()));
  ASSERT_TRUE(store->submit(attendance("gt-1", "r-1"), at.add()));  // stored already
  store->flush();
  const std::vector<std::optional<StoreOutcome>> refused(3, StoreOutcome::over_quota);
  EXPECT_EQ(at.get(), refused);
  EXPECT_EQ(count_of("txn"), 1);
  EXPECT_EQ(count_of("attendance"), 1);
  StoreStats st = store->stats();
  EXPECT_EQ(st.over_quota, 3u);
  EXPECT_EQ(st.stored, 2u);
  EXPECT_EQ(st.failed, 0u);
  EXPECT_EQ(st.commits, 1u);
  EXPECT_FALSE(st.last_commit_failed) << "a refusal at the quota is not a broken store";

  // Room again: what was refused is written when it comes again (the terminal resends its
  // transaction; the engine's refused attendance stays refused, a new clock-in is written).
  at_quota = false;
  Outcomes after;
  ASSERT_TRUE(store->submit(record("gt-1", "gt-1:2"), after.add()));
  ASSERT_TRUE(store->submit(attendance("gt-1", "r-3"), after.add()));
  store->flush();
  EXPECT_EQ(after.get(),
            (std::vector<std::optional<StoreOutcome>>{StoreOutcome::stored, StoreOutcome::stored}));
  EXPECT_EQ(count_of("txn"), 2);
  EXPECT_EQ(count_of("attendance"), 2);
  EXPECT_EQ(reader.scalar("SELECT count(*) FROM txn WHERE txn_id = 'attendance@1718000000000@r-2'"),
            0);
  EXPECT_EQ(store->stats().over_quota, 3u);
}

// The rule holds at the commit, not only at the door: records queued while there was room and
// committed once the quota was reached are refused too.
TEST(SqliteRecordStore, RecordsQueuedBeforeTheQuotaWasReachedAreNotWrittenAfter) {
  TempDir dir;
  const std::string path = dir.file("records.db");
  auto store = open_store(holding_options(path, 10));
  ASSERT_TRUE(store);
  std::atomic<bool> at_quota{false};
  store->set_quota([&at_quota] { return at_quota.load(); });
  Outcomes outcomes;
  ASSERT_TRUE(store->submit(record("gt-1", "gt-1:1"), outcomes.add()));
  ASSERT_TRUE(store->submit(attendance("gt-1", "r-1"), outcomes.add()));
  at_quota = true;
  store->close();  // commits what is queued
  const std::vector<std::optional<StoreOutcome>> refused(2, StoreOutcome::over_quota);
  EXPECT_EQ(outcomes.get(), refused);
  EXPECT_EQ(Reader(path).rows(), 0);
}

TEST(SqliteRecordStore, AFailedCommitFailsTheBatchAndIsCounted) {
  TempDir dir;
  const std::string path = dir.file("txn.db");
  auto store = open_store(options_for(path));
  ASSERT_TRUE(store);
  // Dropping the table under the store makes the insert fail at once (a held write lock would
  // only fail after the 5 s busy timeout).
  {
    auto db = sqlite::Database::open(path, false);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->exec("DROP TABLE txn").ok());
  }
  Outcomes outcomes;
  ASSERT_TRUE(store->submit(record("ct-1", "1"), outcomes.add()));
  store->flush();
  EXPECT_EQ(outcomes.get().at(0), StoreOutcome::failed);
  auto st = store->stats();
  EXPECT_EQ(st.failed, 1u);
  EXPECT_EQ(st.stored, 0u);
  EXPECT_EQ(st.commits, 0u);
}

TEST(SqliteMigrate, AppliesPendingMigrationsInOrder) {
  TempDir dir;
  auto db = sqlite::Database::open(dir.file("m.db"), true);
  ASSERT_TRUE(db.ok());
  std::vector<std::string_view> m{"CREATE TABLE a (x INTEGER);", "INSERT INTO a VALUES (42);"};
  auto v = sqlite::migrate(*db, m, "m.db");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 2);
  m.push_back("this is not sql");
  auto bad = sqlite::migrate(*db, m, "m.db");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "schema_migration");
  Reader reader(dir.file("m.db"));
  EXPECT_EQ(reader.scalar("PRAGMA user_version"), 2);  // the failed step rolled back
  EXPECT_EQ(reader.scalar("SELECT x FROM a"), 42);
}

}  // namespace
}  // namespace yktgw
