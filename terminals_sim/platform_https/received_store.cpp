#include "terminals_sim/platform_https/received_store.h"

namespace yktgw::platform {
namespace {

// Versioned by received_meta, not user_version (see the header). Never edit a shipped step.
constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE received (
  platform        TEXT    NOT NULL,
  source_gateway  TEXT    NOT NULL,
  terminal        TEXT    NOT NULL,
  txn_id          TEXT    NOT NULL,
  seq             INTEGER NOT NULL,
  site            TEXT    NOT NULL,
  req_id          TEXT    NOT NULL,
  scenario        TEXT    NOT NULL,
  service_item    INTEGER NOT NULL,
  ts_ms           INTEGER NOT NULL,
  received_ms     INTEGER NOT NULL,
  cred_type       TEXT    NOT NULL,
  card_token      TEXT    NOT NULL,
  card_masked     TEXT    NOT NULL,
  cred_method     TEXT    NOT NULL,
  issuer_region   INTEGER NOT NULL,
  amount_fen      INTEGER NOT NULL,
  result          TEXT    NOT NULL,
  reason          TEXT    NOT NULL,
  mode            TEXT    NOT NULL,
  batch_id        TEXT    NOT NULL,
  first_seen_ms   INTEGER NOT NULL,
  duplicates      INTEGER NOT NULL DEFAULT 0,
  UNIQUE (platform, source_gateway, terminal, txn_id)
) STRICT;
CREATE TABLE received_batch (
  platform        TEXT    NOT NULL,
  source_gateway  TEXT    NOT NULL,
  batch_id        TEXT    NOT NULL,
  first_seen_ms   INTEGER NOT NULL,
  times           INTEGER NOT NULL,
  records         INTEGER NOT NULL,
  PRIMARY KEY (platform, source_gateway, batch_id)
) STRICT;
)sql";

// v2: a record is the same record whichever gateway forwards it: a terminal belongs to one
// site, and the gateways of one site (a shared group, see docs/scaling.md) may each have stored
// a record whose ack was lost with a killed member. Keyed by site instead of source gateway.
constexpr std::string_view kSchemaV2 = R"sql(
CREATE TABLE received_v2 (
  platform        TEXT    NOT NULL,
  source_gateway  TEXT    NOT NULL,
  terminal        TEXT    NOT NULL,
  txn_id          TEXT    NOT NULL,
  seq             INTEGER NOT NULL,
  site            TEXT    NOT NULL,
  req_id          TEXT    NOT NULL,
  scenario        TEXT    NOT NULL,
  service_item    INTEGER NOT NULL,
  ts_ms           INTEGER NOT NULL,
  received_ms     INTEGER NOT NULL,
  cred_type       TEXT    NOT NULL,
  card_token      TEXT    NOT NULL,
  card_masked     TEXT    NOT NULL,
  cred_method     TEXT    NOT NULL,
  issuer_region   INTEGER NOT NULL,
  amount_fen      INTEGER NOT NULL,
  result          TEXT    NOT NULL,
  reason          TEXT    NOT NULL,
  mode            TEXT    NOT NULL,
  batch_id        TEXT    NOT NULL,
  first_seen_ms   INTEGER NOT NULL,
  duplicates      INTEGER NOT NULL DEFAULT 0,
  UNIQUE (platform, site, terminal, txn_id)
) STRICT;
INSERT OR IGNORE INTO received_v2 SELECT * FROM received ORDER BY first_seen_ms;
DROP TABLE received;
ALTER TABLE received_v2 RENAME TO received;
CREATE INDEX received_by_source ON received (platform, source_gateway, seq);
)sql";

// v3: the record's kind (txn, attendance); lines without one are transactions.
constexpr std::string_view kSchemaV3 = R"sql(
ALTER TABLE received ADD COLUMN kind TEXT NOT NULL DEFAULT 'txn';
)sql";

const std::vector<std::string_view>& steps() {
  static const std::vector<std::string_view> kSteps{kSchemaV1, kSchemaV2, kSchemaV3};
  return kSteps;
}

Result<void> migrate(const sqlite::Database& db, const std::string& path) {
  if (auto r = db.exec("BEGIN IMMEDIATE"); !r) return r;
  auto fail = [&](const Error& e) -> Result<void> {
    (void)db.exec("ROLLBACK");
    return make_error("schema_migration", path + ": " + e.message);
  };
  if (auto r = db.exec("CREATE TABLE IF NOT EXISTS received_meta (key TEXT PRIMARY KEY, "
                       "value INTEGER NOT NULL) STRICT");
      !r) {
    return fail(r.error());
  }
  auto st = db.prepare("SELECT value FROM received_meta WHERE key = 'schema_version'");
  if (!st) return fail(st.error());
  int version = 0;
  if (sqlite3_step(st->get()) == SQLITE_ROW) version = sqlite3_column_int(st->get(), 0);
  st->reset();
  const int known = static_cast<int>(steps().size());
  if (version > known) {
    (void)db.exec("ROLLBACK");
    return make_error("schema_too_new", path + ": received tables have version " +
                                            std::to_string(version) + ", this build knows " +
                                            std::to_string(known));
  }
  for (int v = version; v < known; ++v) {
    if (auto r = db.exec(steps()[static_cast<std::size_t>(v)]); !r) return fail(r.error());
  }
  if (auto r = db.exec("INSERT INTO received_meta (key, value) VALUES ('schema_version', " +
                       std::to_string(known) +
                       ") ON CONFLICT (key) DO UPDATE SET value = excluded.value");
      !r) {
    return fail(r.error());
  }
  return db.exec("COMMIT");
}

Result<std::vector<SourceCount>> query_counts(const sqlite::Database& db, std::string_view kind) {
  auto st = db.prepare(
      std::string("SELECT platform, source_gateway, COUNT(*), COALESCE(SUM(duplicates), 0) FROM "
                  "received ") +
      (kind.empty() ? "" : "WHERE kind = ?1 ") +
      "GROUP BY platform, source_gateway ORDER BY platform, source_gateway");
  if (!st) return st.error();
  if (!kind.empty()) st->bind(1, kind);
  std::vector<SourceCount> out;
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(st->get())) == SQLITE_ROW) {
    SourceCount c;
    c.platform = st->column_text(0);
    c.source_gateway = st->column_text(1);
    c.unique = static_cast<std::uint64_t>(sqlite3_column_int64(st->get(), 2));
    c.duplicates = static_cast<std::uint64_t>(sqlite3_column_int64(st->get(), 3));
    out.push_back(std::move(c));
  }
  if (rc != SQLITE_DONE) return make_error("sqlite", db.last_error());
  return out;
}

}  // namespace

Result<ReceivedStore> ReceivedStore::open(const std::string& path) {
  auto db = sqlite::Database::open(path, /*create=*/true);
  if (!db) return db.error();
  if (auto r = db->exec("PRAGMA journal_mode=WAL"); !r) return r.error();
  if (auto r = db->exec("PRAGMA synchronous=NORMAL"); !r) return r.error();
  if (auto r = migrate(*db, path); !r) return r.error();
  ReceivedStore store(std::move(db.value()));
  auto insert = store.db_.prepare(
      "INSERT OR IGNORE INTO received (platform, source_gateway, terminal, txn_id, seq, site, "
      "req_id, scenario, service_item, ts_ms, received_ms, cred_type, card_token, card_masked, "
      "cred_method, issuer_region, amount_fen, result, reason, mode, batch_id, first_seen_ms, "
      "kind) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, "
      "?18, ?19, ?20, ?21, ?22, ?23)");
  if (!insert) return insert.error();
  auto bump = store.db_.prepare(
      "UPDATE received SET duplicates = duplicates + 1 WHERE platform = ?1 AND "
      "site = ?2 AND terminal = ?3 AND txn_id = ?4");
  if (!bump) return bump.error();
  auto batch = store.db_.prepare(
      "INSERT INTO received_batch (platform, source_gateway, batch_id, first_seen_ms, times, "
      "records) VALUES (?1, ?2, ?3, ?4, 1, ?5) ON CONFLICT (platform, source_gateway, batch_id) "
      "DO UPDATE SET times = times + 1");
  if (!batch) return batch.error();
  store.insert_ = std::move(insert.value());
  store.bump_ = std::move(bump.value());
  store.batch_ = std::move(batch.value());
  return store;
}

Result<AcceptCounts> ReceivedStore::accept(std::string_view platform,
                                           std::string_view source_gateway,
                                           std::string_view batch_id,
                                           const std::vector<outbox::ForwardedRecord>& records,
                                           std::int64_t now_ms) {
  if (auto r = db_.exec("BEGIN IMMEDIATE"); !r) return r.error();
  AcceptCounts counts;
  auto fail = [&]() -> Result<AcceptCounts> {
    const std::string err = db_.last_error();
    insert_.reset();
    bump_.reset();
    batch_.reset();
    (void)db_.exec("ROLLBACK");
    return make_error("sqlite", err);
  };
  for (const outbox::ForwardedRecord& f : records) {
    const TxnRecord& r = f.record;
    const auto& st = insert_;
    st.reset();
    st.bind(1, platform);
    st.bind(2, source_gateway);
    st.bind(3, r.terminal);
    st.bind(4, r.txn_id);
    st.bind(5, static_cast<std::int64_t>(f.seq));
    st.bind(6, r.site);
    st.bind(7, r.req_id);
    st.bind(8, r.scenario);
    st.bind(9, static_cast<std::int64_t>(r.service_item));
    st.bind(10, r.ts_ms);
    st.bind(11, r.received_ms);
    st.bind(12, to_string(r.card.type));
    st.bind(13, r.card.token);
    st.bind(14, r.card.masked);
    st.bind(15, r.card.method);
    st.bind(16, static_cast<std::int64_t>(r.card.region));
    st.bind(17, r.amount_fen);
    st.bind(18, to_string(r.result));
    st.bind(19, r.reason);
    st.bind(20, to_string(r.mode));
    st.bind(21, batch_id);
    st.bind(22, now_ms);
    st.bind(23, to_string(r.kind));
    if (sqlite3_step(st.get()) != SQLITE_DONE) return fail();
    if (sqlite3_changes(db_.get()) == 1) {
      ++counts.accepted;
      continue;
    }
    ++counts.duplicates;
    bump_.reset();
    bump_.bind(1, platform);
    bump_.bind(2, r.site);
    bump_.bind(3, r.terminal);
    bump_.bind(4, r.txn_id);
    if (sqlite3_step(bump_.get()) != SQLITE_DONE) return fail();
  }
  batch_.reset();
  batch_.bind(1, platform);
  batch_.bind(2, source_gateway);
  batch_.bind(3, batch_id);
  batch_.bind(4, now_ms);
  batch_.bind(5, static_cast<std::int64_t>(records.size()));
  if (sqlite3_step(batch_.get()) != SQLITE_DONE) return fail();
  insert_.reset();
  bump_.reset();
  batch_.reset();
  if (auto r = db_.exec("COMMIT"); !r) {
    (void)db_.exec("ROLLBACK");
    return r.error();
  }
  return counts;
}

Result<std::vector<SourceCount>> ReceivedStore::counts() const { return query_counts(db_, {}); }

Result<std::vector<std::string>> ReceivedStore::txn_ids(std::string_view platform,
                                                        std::string_view source_gateway) const {
  auto st = db_.prepare(
      "SELECT txn_id FROM received WHERE platform = ?1 AND source_gateway = ?2 ORDER BY seq");
  if (!st) return st.error();
  st->bind(1, platform);
  st->bind(2, source_gateway);
  std::vector<std::string> out;
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(st->get())) == SQLITE_ROW) out.push_back(st->column_text(0));
  if (rc != SQLITE_DONE) return make_error("sqlite", db_.last_error());
  return out;
}

Result<std::vector<SourceCount>> count_received(const std::string& db_path, std::string_view kind) {
  auto db = sqlite::Database::open(db_path, /*create=*/false, /*read_only=*/true);
  if (!db) return db.error();
  auto exists =
      db->prepare("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'received'");
  if (!exists) return exists.error();
  if (sqlite3_step(exists->get()) != SQLITE_ROW) return make_error("sqlite", db->last_error());
  if (sqlite3_column_int(exists->get(), 0) == 0) return std::vector<SourceCount>{};
  return query_counts(*db, kind);
}

std::string format_counts(const std::vector<SourceCount>& counts) {
  std::string out = "platform\tsource_gateway\tunique\tduplicates\n";
  for (const SourceCount& c : counts) {
    out += c.platform + "\t" + c.source_gateway + "\t" + std::to_string(c.unique) + "\t" +
           std::to_string(c.duplicates) + "\n";
  }
  return out;
}

}  // namespace yktgw::platform
