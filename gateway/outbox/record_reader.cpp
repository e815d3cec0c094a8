#include "gateway/outbox/record_reader.h"

#include <limits>

namespace yktgw::outbox {
namespace {

// Resets a statement on every path out, which also ends its implicit read transaction.
class ResetGuard {
 public:
  explicit ResetGuard(const sqlite::Statement& st) : st_(st) {}
  ~ResetGuard() { st_.reset(); }
  ResetGuard(const ResetGuard&) = delete;
  ResetGuard& operator=(const ResetGuard&) = delete;

 private:
  const sqlite::Statement& st_;
};

std::int64_t clamp_seq(std::uint64_t v) {
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  return static_cast<std::int64_t>(v > kMax ? kMax : v);
}

std::string_view text_of(sqlite3_stmt* s, int col) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, col));
  if (p == nullptr) return {};
  return {p, static_cast<std::size_t>(sqlite3_column_bytes(s, col))};
}

void assign_text(std::string& out, sqlite3_stmt* s, int col) { out.assign(text_of(s, col)); }

}  // namespace

Result<RecordReader> RecordReader::open(const std::string& records_db, const std::string& condition,
                                        std::string gateway_id) {
  auto db = sqlite::Database::open(records_db, /*create=*/false);
  if (!db) return db.error();
  RecordReader reader(std::move(db.value()), std::move(gateway_id));
  auto read = reader.db_.prepare(
      "SELECT seq, terminal, txn_id, req_id, site, scenario, ts_ms, received_ms, cred_type, "
      "card_token, card_masked, cred_method, amount_fen, result, reason, issuer_region, "
      "service_item, mode, kind FROM txn WHERE seq > ?1 AND seq <= ?2 AND " +
      condition + " ORDER BY seq LIMIT ?3");
  if (!read) {
    return make_error("records_db", records_db + ": cannot read table txn (" +
                                        read.error().message + "); is the record store open?");
  }
  auto count =
      reader.db_.prepare("SELECT COUNT(*) FROM txn WHERE seq > ?1 AND seq <= ?2 AND " + condition);
  if (!count) return count.error();
  auto first = reader.db_.prepare("SELECT received_ms FROM txn WHERE seq > ?1 AND " + condition +
                                  " ORDER BY seq LIMIT 1");
  if (!first) return first.error();
  auto max = reader.db_.prepare("SELECT COALESCE(MAX(seq), 0) FROM txn");
  if (!max) return max.error();
  reader.read_ = std::move(read.value());
  reader.count_ = std::move(count.value());
  reader.first_ = std::move(first.value());
  reader.max_ = std::move(max.value());
  return reader;
}

Result<std::size_t> RecordReader::read(std::uint64_t after, std::uint64_t upto, int limit,
                                       const Sink& sink) {
  const auto& st = read_;
  ResetGuard guard(st);
  st.bind(1, clamp_seq(after));
  st.bind(2, clamp_seq(upto));
  st.bind(3, static_cast<std::int64_t>(limit));
  std::size_t n = 0;
  int rc = SQLITE_ROW;
  sqlite3_stmt* s = st.get();
  // One record reused for every row: its strings keep their capacity, so a row costs copies,
  // not a dozen allocations (a sink that moves the record out only loses that reuse).
  ForwardedRecord f;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    f.seq = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
    f.gateway.assign(gateway_id_);
    TxnRecord& r = f.record;
    assign_text(r.terminal, s, 1);
    assign_text(r.txn_id, s, 2);
    assign_text(r.req_id, s, 3);
    assign_text(r.site, s, 4);
    assign_text(r.scenario, s, 5);
    r.ts_ms = sqlite3_column_int64(s, 6);
    r.received_ms = sqlite3_column_int64(s, 7);
    // A value this build does not know (a newer writer) still travels, as "other".
    r.card.type = credential_type_from(text_of(s, 8)).value_or(CredentialType::other);
    assign_text(r.card.token, s, 9);
    assign_text(r.card.masked, s, 10);
    assign_text(r.card.method, s, 11);
    r.amount_fen = sqlite3_column_int64(s, 12);
    r.result = text_of(s, 13) == "declined" ? TxnResult::declined : TxnResult::approved;
    assign_text(r.reason, s, 14);
    r.card.region = static_cast<IssuerRegion>(sqlite3_column_int(s, 15));
    r.service_item = sqlite3_column_int(s, 16);
    r.mode = text_of(s, 17) == "online" ? AuthMode::online : AuthMode::offline;
    r.kind = text_of(s, 18) == "attendance" ? RecordKind::attendance : RecordKind::txn;
    sink(std::move(f));
    ++n;
  }
  if (rc != SQLITE_DONE) return make_error("sqlite", db_.last_error());
  return n;
}

Result<std::uint64_t> RecordReader::count(std::uint64_t after, std::uint64_t upto) {
  const auto& st = count_;
  ResetGuard guard(st);
  st.bind(1, clamp_seq(after));
  st.bind(2, clamp_seq(upto));
  if (sqlite3_step(st.get()) != SQLITE_ROW) return make_error("sqlite", db_.last_error());
  return static_cast<std::uint64_t>(sqlite3_column_int64(st.get(), 0));
}

Result<std::optional<UtcMillis>> RecordReader::first_received(std::uint64_t after) {
  const auto& st = first_;
  ResetGuard guard(st);
  st.bind(1, clamp_seq(after));
  const int rc = sqlite3_step(st.get());
  if (rc == SQLITE_ROW) return std::optional<UtcMillis>(sqlite3_column_int64(st.get(), 0));
  if (rc != SQLITE_DONE) return make_error("sqlite", db_.last_error());
  return std::optional<UtcMillis>();
}

Result<std::uint64_t> RecordReader::max_seq() {
  const auto& st = max_;
  ResetGuard guard(st);
  if (sqlite3_step(st.get()) != SQLITE_ROW) return make_error("sqlite", db_.last_error());
  return static_cast<std::uint64_t>(sqlite3_column_int64(st.get(), 0));
}

}  // namespace yktgw::outbox
