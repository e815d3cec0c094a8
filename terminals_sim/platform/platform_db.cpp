#include "terminals_sim/platform/platform_db.h"

#include <sqlite3.h>

namespace yktgw::platform {
namespace {

// 1: online authorizations as answered
constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE online_auth (
  id          INTEGER PRIMARY KEY,
  received_ms INTEGER NOT NULL,
  req_id      TEXT NOT NULL,
  site        TEXT NOT NULL,
  terminal    TEXT NOT NULL,
  scenario    TEXT NOT NULL,
  card_token  TEXT NOT NULL,
  amount_fen  INTEGER NOT NULL,
  decision    TEXT NOT NULL,
  reason      TEXT NOT NULL,
  answer_fen  INTEGER NOT NULL
);
CREATE INDEX online_auth_token ON online_auth(card_token);
)sql";

Error sqlite_error(const sqlite::Database& db, std::string_view what) {
  return make_error("sqlite", std::string(what) + ": " + db.last_error());
}

}  // namespace

Result<PlatformDb> PlatformDb::open(const std::string& path) {
  auto db = sqlite::Database::open(path, /*create=*/true);
  if (!db) return db.error();
  if (auto r = db->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"); !r) {
    return r.error();
  }
  if (auto v = sqlite::migrate(*db, {kSchemaV1}, path); !v) return v.error();
  PlatformDb out(std::move(*db));
  auto insert = out.db_.prepare(
      "INSERT INTO online_auth (received_ms, req_id, site, terminal, scenario, card_token, "
      "amount_fen, decision, reason, answer_fen) VALUES (?,?,?,?,?,?,?,?,?,?)");
  if (!insert) return insert.error();
  out.insert_ = std::move(*insert);
  return out;
}

Result<void> PlatformDb::record(const std::vector<AuthRecord>& records) {
  if (records.empty()) return {};
  if (auto r = db_.exec("BEGIN IMMEDIATE"); !r) return r.error();
  for (const AuthRecord& a : records) {
    const sqlite::Statement& s = insert_;
    s.reset();
    s.bind(1, a.received_ms);
    s.bind(2, a.req_id);
    s.bind(3, a.site);
    s.bind(4, a.terminal);
    s.bind(5, a.scenario);
    s.bind(6, a.card_token);
    s.bind(7, a.amount_fen);
    s.bind(8, to_string(a.reply.decision));
    s.bind(9, a.reply.reason);
    s.bind(10, a.reply.amount_fen);
    if (sqlite3_step(s.get()) != SQLITE_DONE) {
      const Error e = sqlite_error(db_, "cannot record an online authorization");
      (void)db_.exec("ROLLBACK");
      return e;
    }
  }
  if (auto r = db_.exec("COMMIT"); !r) {
    (void)db_.exec("ROLLBACK");
    return r.error();
  }
  return {};
}

Result<std::int64_t> PlatformDb::auth_count() const {
  auto st = db_.prepare("SELECT count(*) FROM online_auth");
  if (!st) return st.error();
  if (sqlite3_step(st->get()) != SQLITE_ROW) return sqlite_error(db_, "cannot count");
  return static_cast<std::int64_t>(sqlite3_column_int64(st->get(), 0));
}

Result<std::vector<AuthRecord>> PlatformDb::recent(int limit) const {
  auto st = db_.prepare(
      "SELECT received_ms, req_id, site, terminal, scenario, card_token, amount_fen, decision, "
      "reason, answer_fen FROM online_auth ORDER BY id DESC LIMIT ?");
  if (!st) return st.error();
  st->bind(1, static_cast<std::int64_t>(limit));
  std::vector<AuthRecord> out;
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(st->get())) == SQLITE_ROW) {
    AuthRecord a;
    a.received_ms = sqlite3_column_int64(st->get(), 0);
    a.req_id = st->column_text(1);
    a.site = st->column_text(2);
    a.terminal = st->column_text(3);
    a.scenario = st->column_text(4);
    a.card_token = st->column_text(5);
    a.amount_fen = sqlite3_column_int64(st->get(), 6);
    a.reply.decision = st->column_text(7) == "approve" ? Decision::approve : Decision::decline;
    a.reply.reason = st->column_text(8);
    a.reply.amount_fen = sqlite3_column_int64(st->get(), 9);
    out.push_back(std::move(a));
  }
  if (rc != SQLITE_DONE) return sqlite_error(db_, "cannot read online authorizations");
  return out;
}

}  // namespace yktgw::platform
