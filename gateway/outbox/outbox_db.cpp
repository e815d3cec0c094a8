#include "gateway/outbox/outbox_db.h"

#include <type_traits>
#include <utility>

namespace yktgw::outbox {
namespace {

// Never edit a migration that has shipped: add a new one.
constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE cursor (
  destination  TEXT    PRIMARY KEY,
  acked_seq    INTEGER NOT NULL,
  updated_ms   INTEGER NOT NULL
) STRICT;
CREATE TABLE batch (
  batch_id     TEXT    PRIMARY KEY,
  destination  TEXT    NOT NULL,
  kind         TEXT    NOT NULL CHECK (kind IN ('stream', 'retry')),
  first_seq    INTEGER NOT NULL,
  last_seq     INTEGER NOT NULL,
  records      INTEGER NOT NULL,
  done         INTEGER NOT NULL DEFAULT 0,
  dead_letter  INTEGER NOT NULL DEFAULT 0,
  created_ms   INTEGER NOT NULL
) STRICT;
CREATE INDEX batch_by_destination ON batch (destination, kind, last_seq);
CREATE TABLE dead_letter (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  batch_id     TEXT    NOT NULL,
  destination  TEXT    NOT NULL,
  first_seq    INTEGER NOT NULL,
  last_seq     INTEGER NOT NULL,
  records      INTEGER NOT NULL,
  reason       TEXT    NOT NULL,
  created_ms   INTEGER NOT NULL,
  updated_ms   INTEGER NOT NULL,
  state        TEXT    NOT NULL
               CHECK (state IN ('dead', 'retry_requested', 'retrying', 'resolved')),
  retries      INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX dead_letter_by_state ON dead_letter (destination, state);
)sql";

using sqlite::Statement;

// Binds each argument in order: integers as INTEGER, anything string-like as TEXT.
template <typename... Args>
void bind_all(const Statement& st, Args&&... args) {
  int i = 0;
  auto one = [&](auto&& v) {
    ++i;
    using T = std::decay_t<decltype(v)>;
    if constexpr (std::is_integral_v<T>) {
      st.bind(i, static_cast<std::int64_t>(v));
    } else {
      st.bind(i, std::string_view(v));
    }
  };
  (one(std::forward<Args>(args)), ...);
}

template <typename... Args>
Result<void> run(const sqlite::Database& db, std::string_view sql, Args&&... args) {
  auto st = db.prepare(sql);
  if (!st) return st.error();
  bind_all(*st, std::forward<Args>(args)...);
  if (sqlite3_step(st->get()) != SQLITE_DONE) return make_error("sqlite", db.last_error());
  return {};
}

// BEGIN IMMEDIATE ... COMMIT around `body`, rolled back when it fails.
template <typename F>
auto in_transaction(const sqlite::Database& db, F&& body) -> decltype(body()) {
  if (auto r = db.exec("BEGIN IMMEDIATE"); !r) return r.error();
  auto result = body();
  if (!result) {
    (void)db.exec("ROLLBACK");
    return result;
  }
  if (auto c = db.exec("COMMIT"); !c) {
    (void)db.exec("ROLLBACK");
    return c.error();
  }
  return result;
}

std::uint64_t column_u64(const Statement& st, int i) {
  return static_cast<std::uint64_t>(sqlite3_column_int64(st.get(), i));
}

constexpr std::string_view kDeadLetterColumns =
    "id, batch_id, destination, first_seq, last_seq, records, reason, created_ms, updated_ms, "
    "state, retries";

DeadLetter read_dead_letter(const Statement& st) {
  DeadLetter d;
  d.id = sqlite3_column_int64(st.get(), 0);
  d.batch_id = st.column_text(1);
  d.destination = st.column_text(2);
  d.first_seq = column_u64(st, 3);
  d.last_seq = column_u64(st, 4);
  d.count = static_cast<std::uint32_t>(sqlite3_column_int64(st.get(), 5));
  d.reason = st.column_text(6);
  d.created_ms = sqlite3_column_int64(st.get(), 7);
  d.updated_ms = sqlite3_column_int64(st.get(), 8);
  d.state = dead_letter_state_from(st.column_text(9)).value_or(DeadLetterState::dead);
  d.retries = sqlite3_column_int(st.get(), 10);
  return d;
}

Result<std::vector<DeadLetter>> query_dead_letters(const sqlite::Database& db,
                                                   const std::string& sql,
                                                   std::string_view destination) {
  auto st = db.prepare(sql);
  if (!st) return st.error();
  if (sqlite3_bind_parameter_count(st->get()) > 0) st->bind(1, destination);
  std::vector<DeadLetter> out;
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(st->get())) == SQLITE_ROW) out.push_back(read_dead_letter(*st));
  if (rc != SQLITE_DONE) return make_error("sqlite", db.last_error());
  return out;
}

}  // namespace

std::string_view to_string(DeadLetterState s) {
  switch (s) {
    case DeadLetterState::dead:
      return "dead";
    case DeadLetterState::retry_requested:
      return "retry_requested";
    case DeadLetterState::retrying:
      return "retrying";
    case DeadLetterState::resolved:
      return "resolved";
  }
  return "dead";
}

std::optional<DeadLetterState> dead_letter_state_from(std::string_view s) {
  for (auto st : {DeadLetterState::dead, DeadLetterState::retry_requested,
                  DeadLetterState::retrying, DeadLetterState::resolved}) {
    if (to_string(st) == s) return st;
  }
  return std::nullopt;
}

const std::vector<std::string_view>& OutboxDb::migrations() {
  static const std::vector<std::string_view> kMigrations{kSchemaV1};
  return kMigrations;
}

Result<OutboxDb> OutboxDb::open(const std::string& path) {
  auto db = sqlite::Database::open(path, /*create=*/true);
  if (!db) return db.error();
  if (auto r = db->exec("PRAGMA journal_mode=WAL"); !r) {
    return make_error("sqlite_open", path + ": cannot enable WAL: " + r.error().message);
  }
  if (auto r = db->exec("PRAGMA synchronous=NORMAL"); !r) return r.error();
  if (auto v = sqlite::migrate(*db, migrations(), path); !v) return v.error();
  return OutboxDb(std::move(db.value()));
}

Result<std::uint64_t> OutboxDb::acked_seq(std::string_view destination) const {
  auto st = db_.prepare("SELECT acked_seq FROM cursor WHERE destination = ?1");
  if (!st) return st.error();
  st->bind(1, destination);
  const int rc = sqlite3_step(st->get());
  if (rc == SQLITE_ROW) return column_u64(*st, 0);
  if (rc != SQLITE_DONE) return make_error("sqlite", db_.last_error());
  return std::uint64_t{0};
}

Result<std::vector<std::pair<std::string, std::uint64_t>>> OutboxDb::cursors() const {
  auto st = db_.prepare("SELECT destination, acked_seq FROM cursor ORDER BY destination");
  if (!st) return st.error();
  std::vector<std::pair<std::string, std::uint64_t>> out;
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(st->get())) == SQLITE_ROW) {
    out.emplace_back(st->column_text(0), column_u64(*st, 1));
  }
  if (rc != SQLITE_DONE) return make_error("sqlite", db_.last_error());
  return out;
}

Result<std::vector<StoredBatch>> OutboxDb::batches(std::string_view destination) const {
  auto st = db_.prepare(
      "SELECT batch_id, kind, first_seq, last_seq, records, done, dead_letter, created_ms "
      "FROM batch WHERE destination = ?1 ORDER BY kind = 'retry', last_seq, batch_id");
  if (!st) return st.error();
  st->bind(1, destination);
  std::vector<StoredBatch> out;
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(st->get())) == SQLITE_ROW) {
    StoredBatch b;
    b.id = st->column_text(0);
    b.destination = std::string(destination);
    b.kind = st->column_text(1) == "retry" ? BatchKind::retry : BatchKind::stream;
    b.first_seq = column_u64(*st, 2);
    b.last_seq = column_u64(*st, 3);
    b.count = static_cast<std::uint32_t>(sqlite3_column_int64(st->get(), 4));
    b.done = sqlite3_column_int(st->get(), 5) != 0;
    b.dead_letter_id = sqlite3_column_int64(st->get(), 6);
    b.created_ms = sqlite3_column_int64(st->get(), 7);
    out.push_back(std::move(b));
  }
  if (rc != SQLITE_DONE) return make_error("sqlite", db_.last_error());
  return out;
}

Result<void> OutboxDb::insert_batch(const StoredBatch& b) {
  return run(db_,
             "INSERT INTO batch (batch_id, destination, kind, first_seq, last_seq, records, done, "
             "dead_letter, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
             b.id, b.destination, b.kind == BatchKind::retry ? "retry" : "stream", b.first_seq,
             b.last_seq, b.count, b.done ? 1 : 0, b.dead_letter_id, b.created_ms);
}

Result<void> OutboxDb::mark_batch_done(std::string_view batch_id) {
  return run(db_, "UPDATE batch SET done = 1 WHERE batch_id = ?1", batch_id);
}

Result<void> OutboxDb::advance_cursor(std::string_view destination, std::uint64_t acked_seq,
                                      UtcMillis now) {
  return in_transaction(db_, [&]() -> Result<void> {
    if (auto r = run(db_,
                     "INSERT INTO cursor (destination, acked_seq, updated_ms) VALUES (?1, ?2, ?3) "
                     "ON CONFLICT (destination) DO UPDATE SET acked_seq = excluded.acked_seq, "
                     "updated_ms = excluded.updated_ms",
                     destination, acked_seq, now);
        !r) {
      return r;
    }
    return run(db_,
               "DELETE FROM batch WHERE destination = ?1 AND kind = 'stream' AND last_seq <= ?2",
               destination, acked_seq);
  });
}

Result<std::int64_t> OutboxDb::dead_letter_batch(const StoredBatch& b, std::string_view reason,
                                                 UtcMillis now) {
  return in_transaction(db_, [&]() -> Result<std::int64_t> {
    if (auto r =
            run(db_,
                "INSERT INTO dead_letter (batch_id, destination, first_seq, last_seq, records, "
                "reason, created_ms, updated_ms, state) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, 'dead')",
                b.id, b.destination, b.first_seq, b.last_seq, b.count, reason, now);
        !r) {
      return r.error();
    }
    const std::int64_t id = sqlite3_last_insert_rowid(db_.get());
    if (auto r = run(db_, "UPDATE batch SET done = 1 WHERE batch_id = ?1", b.id); !r) {
      return r.error();
    }
    return id;
  });
}

Result<std::vector<DeadLetter>> OutboxDb::dead_letters(std::string_view destination,
                                                       bool include_resolved) const {
  std::string sql = "SELECT " + std::string(kDeadLetterColumns) + " FROM dead_letter WHERE 1";
  if (!destination.empty()) sql += " AND destination = ?1";
  if (!include_resolved) sql += " AND state <> 'resolved'";
  sql += " ORDER BY id DESC";
  return query_dead_letters(db_, sql, destination);
}

Result<std::optional<DeadLetter>> OutboxDb::dead_letter(std::int64_t id) const {
  auto st =
      db_.prepare("SELECT " + std::string(kDeadLetterColumns) + " FROM dead_letter WHERE id = ?1");
  if (!st) return st.error();
  st->bind(1, id);
  const int rc = sqlite3_step(st->get());
  if (rc == SQLITE_ROW) return std::optional<DeadLetter>(read_dead_letter(*st));
  if (rc != SQLITE_DONE) return make_error("sqlite", db_.last_error());
  return std::optional<DeadLetter>();
}

Result<std::uint64_t> OutboxDb::open_dead_letters(std::string_view destination) const {
  auto st = db_.prepare(
      "SELECT COUNT(*) FROM dead_letter WHERE destination = ?1 AND state <> 'resolved'");
  if (!st) return st.error();
  st->bind(1, destination);
  if (sqlite3_step(st->get()) != SQLITE_ROW) return make_error("sqlite", db_.last_error());
  return column_u64(*st, 0);
}

Result<std::vector<DeadLetter>> OutboxDb::retry_requests(std::string_view destination) const {
  return query_dead_letters(db_,
                            "SELECT " + std::string(kDeadLetterColumns) +
                                " FROM dead_letter WHERE destination = ?1 AND state = "
                                "'retry_requested' ORDER BY id",
                            destination);
}

Result<int> OutboxDb::request_retry(std::int64_t id, UtcMillis now) {
  if (auto r = run(db_,
                   "UPDATE dead_letter SET state = 'retry_requested', updated_ms = ?2 "
                   "WHERE id = ?1 AND state = 'dead'",
                   id, now);
      !r) {
    return r.error();
  }
  return sqlite3_changes(db_.get());
}

Result<int> OutboxDb::request_retry_all(UtcMillis now) {
  if (auto r = run(db_,
                   "UPDATE dead_letter SET state = 'retry_requested', updated_ms = ?1 "
                   "WHERE state = 'dead'",
                   now);
      !r) {
    return r.error();
  }
  return sqlite3_changes(db_.get());
}

Result<void> OutboxDb::start_retry(const DeadLetter& letter, const StoredBatch& resend,
                                   UtcMillis now) {
  return in_transaction(db_, [&]() -> Result<void> {
    if (auto r = insert_batch(resend); !r) return r;
    return run(db_,
               "UPDATE dead_letter SET state = 'retrying', retries = retries + 1, updated_ms = ?2 "
               "WHERE id = ?1",
               letter.id, now);
  });
}

Result<void> OutboxDb::finish_retry(const StoredBatch& resend, bool delivered,
                                    std::string_view reason, UtcMillis now) {
  return in_transaction(db_, [&]() -> Result<void> {
    if (auto r = run(db_, "DELETE FROM batch WHERE batch_id = ?1", resend.id); !r) return r;
    if (delivered) {
      return run(db_, "UPDATE dead_letter SET state = 'resolved', updated_ms = ?2 WHERE id = ?1",
                 resend.dead_letter_id, now);
    }
    return run(db_,
               "UPDATE dead_letter SET state = 'dead', reason = ?2, updated_ms = ?3 WHERE id = ?1",
               resend.dead_letter_id, reason, now);
  });
}

}  // namespace yktgw::outbox
