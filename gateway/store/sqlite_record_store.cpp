#include "gateway/store/sqlite_record_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace yktgw {
namespace {

// Never edit a migration that has shipped: add a new one.
constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE txn (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  terminal     TEXT    NOT NULL,
  txn_id       TEXT    NOT NULL,
  req_id       TEXT    NOT NULL,
  site         TEXT    NOT NULL,
  scenario     TEXT    NOT NULL,
  ts_ms        INTEGER NOT NULL,
  received_ms  INTEGER NOT NULL,
  cred_type    TEXT    NOT NULL,
  card_token   TEXT    NOT NULL,
  card_masked  TEXT    NOT NULL,
  cred_method  TEXT    NOT NULL,
  amount_fen   INTEGER NOT NULL,
  result       TEXT    NOT NULL,
  reason       TEXT    NOT NULL,
  UNIQUE (terminal, txn_id)
) STRICT;
CREATE INDEX txn_received ON txn (received_ms);
)sql";

// Issuer region and catalogue item drive forwarding and the statistics; mode is how the tap
// was decided. Old rows get 0 / '' / 'offline'.
constexpr std::string_view kSchemaV2 = R"sql(
ALTER TABLE txn ADD COLUMN issuer_region INTEGER NOT NULL DEFAULT 0;
ALTER TABLE txn ADD COLUMN service_item INTEGER NOT NULL DEFAULT 0;
ALTER TABLE txn ADD COLUMN mode TEXT NOT NULL DEFAULT 'offline';
)sql";

// The record's kind: 'txn' (from a terminal) or 'attendance' (a clock-in the gateway recorded).
// Old rows are transactions.
constexpr std::string_view kSchemaV3 = R"sql(
ALTER TABLE txn ADD COLUMN kind TEXT NOT NULL DEFAULT 'txn';
)sql";

constexpr std::string_view kInsert = R"sql(
INSERT OR IGNORE INTO txn (terminal, txn_id, req_id, site, scenario, ts_ms, received_ms,
                           cred_type, card_token, card_masked, cred_method, amount_fen, result,
                           reason, issuer_region, service_item, mode, kind)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
)sql";

}  // namespace

const std::vector<std::string_view>& SqliteRecordStore::migrations() {
  static const std::vector<std::string_view> kMigrations{kSchemaV1, kSchemaV2, kSchemaV3};
  return kMigrations;
}

Result<std::unique_ptr<SqliteRecordStore>> SqliteRecordStore::open(
    const RecordStoreOptions& options, std::shared_ptr<spdlog::logger> log) {
  auto db = sqlite::Database::open(options.path, /*create=*/true);
  if (!db) return db.error();
  auto wal = db->exec("PRAGMA journal_mode=WAL");
  if (!wal)
    return make_error("sqlite_open", options.path + ": cannot enable WAL: " + wal.error().message);
  std::string sync =
      options.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL";
  if (auto r = db->exec(sync); !r) return r.error();
  if (auto v = sqlite::migrate(*db, migrations(), options.path); !v) return v.error();
  auto store = std::unique_ptr<SqliteRecordStore>(
      new SqliteRecordStore(options, std::move(db.value()), std::move(log)));
  auto insert = store->db_.prepare(kInsert);
  if (!insert) return insert.error();
  store->insert_ = std::move(insert.value());
  store->writer_ = std::thread([s = store.get()] { s->writer_loop(); });
  return store;
}

SqliteRecordStore::SqliteRecordStore(RecordStoreOptions options, sqlite::Database db,
                                     std::shared_ptr<spdlog::logger> log)
    : options_(std::move(options)), db_(std::move(db)), log_(std::move(log)) {}

SqliteRecordStore::~SqliteRecordStore() { close(); }

bool SqliteRecordStore::submit(TxnRecord record, Completion done) {
  {
    std::lock_guard lock(mu_);
    if (closing_ || queue_.size() >= static_cast<std::size_t>(options_.queue_capacity))
      return false;
    queue_.push_back(Pending{std::move(record), std::move(done)});
    ++submitted_;
  }
  work_cv_.notify_one();
  return true;
}

void SqliteRecordStore::flush() {
  std::unique_lock lock(mu_);
  const std::uint64_t target = submitted_;
  done_cv_.wait(lock, [&] { return completed_ >= target; });
}

StoreStats SqliteRecordStore::stats() const {
  std::lock_guard lock(mu_);
  StoreStats s = stats_;
  s.queued = queue_.size();
  return s;
}

void SqliteRecordStore::set_quota(std::function<bool()> reached) {
  std::lock_guard lock(mu_);
  quota_reached_ = std::move(reached);
}

void SqliteRecordStore::close() {
  {
    std::lock_guard lock(mu_);
    if (closing_ && !writer_.joinable()) return;
    closing_ = true;
  }
  work_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  done_cv_.notify_all();
}

void SqliteRecordStore::writer_loop() {
  const auto linger = std::chrono::milliseconds(options_.commit_linger_ms);
  const auto max_batch = static_cast<std::size_t>(options_.commit_max_records);
  std::deque<Pending> batch;
  for (;;) {
    bool over_quota = false;
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [&] { return !queue_.empty() || closing_; });
      if (queue_.empty()) return;  // closing and drained
      // A short linger lets a burst share one fsync; under load the batch fills before it ends.
      if (linger.count() > 0 && queue_.size() < max_batch && !closing_) {
        work_cv_.wait_for(lock, linger, [&] { return queue_.size() >= max_batch || closing_; });
      }
      const std::size_t n = std::min(queue_.size(), max_batch);
      for (std::size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      // Asked when the batch is taken, right before its commit: a record queued before the
      // quota was reached is refused like one that comes after.
      over_quota = quota_reached_ && quota_reached_();
    }
    if (over_quota) {
      refuse_batch(batch);
    } else {
      commit_batch(batch);
    }
    {
      std::lock_guard lock(mu_);
      completed_ += batch.size();
    }
    batch.clear();
    done_cv_.notify_all();
  }
}

void SqliteRecordStore::refuse_batch(std::deque<Pending>& batch) {
  {
    std::lock_guard lock(mu_);
    // Not a failed commit: nothing was tried, so the store's health (last_commit_failed) is
    // what the last real commit said.
    stats_.over_quota += batch.size();
  }
  for (auto& p : batch) {
    if (p.done) p.done(StoreOutcome::over_quota);
  }
}

void SqliteRecordStore::commit_batch(std::deque<Pending>& batch) {
  std::vector<StoreOutcome> outcomes(batch.size(), StoreOutcome::failed);
  std::string failure;
  if (auto r = db_.exec("BEGIN IMMEDIATE"); !r) {
    failure = r.error().message;
  } else {
    for (std::size_t i = 0; i < batch.size() && failure.empty(); ++i) {
      const TxnRecord& t = batch[i].record;
      const auto& st = insert_;
      st.reset();
      // The record outlives the step, so its strings are bound without a copy.
      st.bind_static(1, t.terminal);
      st.bind_static(2, t.txn_id);
      st.bind_static(3, t.req_id);
      st.bind_static(4, t.site);
      st.bind_static(5, t.scenario);
      st.bind(6, t.ts_ms);
      st.bind(7, t.received_ms);
      st.bind_static(8, to_string(t.card.type));
      st.bind_static(9, t.card.token);
      st.bind_static(10, t.card.masked);
      st.bind_static(11, t.card.method);
      st.bind(12, t.amount_fen);
      st.bind_static(13, to_string(t.result));
      st.bind_static(14, t.reason);
      st.bind(15, static_cast<std::int64_t>(t.card.region));
      st.bind(16, static_cast<std::int64_t>(t.service_item));
      st.bind_static(17, to_string(t.mode));
      st.bind_static(18, to_string(t.kind));
      if (sqlite3_step(st.get()) != SQLITE_DONE) {
        failure = db_.last_error();
        break;
      }
      outcomes[i] =
          sqlite3_changes(db_.get()) == 1 ? StoreOutcome::stored : StoreOutcome::duplicate;
    }
    insert_.reset();
    if (failure.empty()) {
      if (auto c = db_.exec("COMMIT"); !c) failure = c.error().message;
    }
    if (!failure.empty()) (void)db_.exec("ROLLBACK");
  }

  StoreStats delta;
  if (!failure.empty()) {
    std::fill(outcomes.begin(), outcomes.end(), StoreOutcome::failed);
    delta.failed = batch.size();
    if (log_) log_->error("commit failed records={} error=\"{}\"", batch.size(), failure);
  } else {
    delta.commits = 1;
    for (auto o : outcomes) (o == StoreOutcome::stored ? delta.stored : delta.duplicates)++;
  }
  {
    std::lock_guard lock(mu_);
    stats_.stored += delta.stored;
    stats_.duplicates += delta.duplicates;
    stats_.failed += delta.failed;
    stats_.commits += delta.commits;
    stats_.last_commit_failed = !failure.empty();
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (batch[i].done) batch[i].done(outcomes[i]);
  }
  if (!failure.empty()) {
    // The disk or the file is in trouble; don't spin on it. Terminals resend what was not acked.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace yktgw
