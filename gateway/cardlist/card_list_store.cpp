#include "gateway/cardlist/card_list_store.h"

#include <cctype>
#include <fstream>

#include "gateway/core/card_number.h"
#include "gateway/store/sqlite_util.h"

namespace yktgw {

std::string_view to_string(CardStatus s) {
  switch (s) {
    case CardStatus::active: return "active";
    case CardStatus::lost: return "lost";
    case CardStatus::frozen: return "frozen";
    case CardStatus::cancelled: return "cancelled";
  }
  return "active";
}

std::optional<CardStatus> card_status_from(std::string_view s) {
  if (s == "active") return CardStatus::active;
  if (s == "lost") return CardStatus::lost;
  if (s == "frozen") return CardStatus::frozen;
  if (s == "cancelled") return CardStatus::cancelled;
  return std::nullopt;
}

std::shared_ptr<const CardListSnapshot> MemoryCardList::current() const {
  std::lock_guard lock(mu_);
  return snapshot_;
}

std::optional<CardEntry> MemoryCardList::find(std::string_view token) const {
  auto snap = current();
  auto it = snap->by_token.find(std::string(token));
  if (it == snap->by_token.end()) return std::nullopt;
  return it->second;
}

std::uint64_t MemoryCardList::size() const { return current()->by_token.size(); }
std::int64_t MemoryCardList::version() const { return current()->version; }
std::int64_t MemoryCardList::updated_ms() const { return current()->updated_ms; }

void MemoryCardList::replace(std::shared_ptr<const CardListSnapshot> snapshot) {
  std::lock_guard lock(mu_);
  snapshot_ = std::move(snapshot);
}

namespace {

constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE card (
  token       TEXT    PRIMARY KEY,
  status      TEXT    NOT NULL CHECK (status IN ('active','lost','frozen','cancelled')),
  masked      TEXT    NOT NULL,
  updated_ms  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE list_meta (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  version     INTEGER NOT NULL,
  updated_ms  INTEGER NOT NULL
) STRICT;
INSERT INTO list_meta (id, version, updated_ms) VALUES (1, 0, 0);
)sql";

bool is_hex_token(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c)) || std::isupper(static_cast<unsigned char>(c)))
      return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

struct CardListDb::Impl {
  sqlite::Database db;
  std::string path;
};

CardListDb::CardListDb(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CardListDb::CardListDb(CardListDb&&) noexcept = default;
CardListDb& CardListDb::operator=(CardListDb&&) noexcept = default;
CardListDb::~CardListDb() = default;

const std::vector<std::string_view>& CardListDb::migrations() {
  static const std::vector<std::string_view> kMigrations{kSchemaV1};
  return kMigrations;
}

Result<CardListDb> CardListDb::open(const std::string& path) {
  auto db = sqlite::Database::open(path, /*create=*/true);
  if (!db) return db.error();
  if (auto r = db->exec("PRAGMA journal_mode=WAL"); !r) return r.error();
  if (auto r = db->exec("PRAGMA synchronous=FULL"); !r) return r.error();
  if (auto v = sqlite::migrate(*db, migrations(), path); !v) return v.error();
  auto impl = std::make_unique<Impl>();
  impl->db = std::move(db.value());
  impl->path = path;
  return CardListDb(std::move(impl));
}

Result<std::shared_ptr<const CardListSnapshot>> CardListDb::load() const {
  auto snap = std::make_shared<CardListSnapshot>();
  auto meta = impl_->db.prepare("SELECT version, updated_ms FROM list_meta WHERE id = 1");
  if (!meta) return meta.error();
  if (sqlite3_step(meta->get()) == SQLITE_ROW) {
    snap->version = sqlite3_column_int64(meta->get(), 0);
    snap->updated_ms = sqlite3_column_int64(meta->get(), 1);
  }
  auto rows = impl_->db.prepare("SELECT token, status FROM card");
  if (!rows) return rows.error();
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(rows->get())) == SQLITE_ROW) {
    auto status = card_status_from(rows->column_text(1));
    if (!status) continue;  // the CHECK constraint keeps this from happening
    snap->by_token.emplace(rows->column_text(0), CardEntry{*status, 0});
  }
  if (rc != SQLITE_DONE) return make_error("sqlite", impl_->db.last_error());
  return std::shared_ptr<const CardListSnapshot>(std::move(snap));
}

Result<CardListDb::ImportStats> CardListDb::import_csv(const std::string& csv_path,
                                                       const CardTokenizer& tokenizer,
                                                       std::int64_t now_ms) {
  std::ifstream in(csv_path);
  if (!in) return make_error("io", "cannot read '" + csv_path + "'");
  ImportStats stats;
  auto& db = impl_->db;
  if (auto r = db.exec("BEGIN IMMEDIATE"); !r) return r.error();
  auto up = db.prepare(
      "INSERT INTO card (token, status, masked, updated_ms) VALUES (?1, ?2, ?3, ?4) "
      "ON CONFLICT (token) DO UPDATE SET status = excluded.status, "
      "masked = CASE WHEN excluded.masked = '' THEN card.masked ELSE excluded.masked END, "
      "updated_ms = excluded.updated_ms");
  if (!up) {
    (void)db.exec("ROLLBACK");
    return up.error();
  }
  std::string line;
  std::uint64_t line_no = 0;
  bool seen_header = false;
  auto reject = [&](const std::string& why) {
    ++stats.rejected;
    if (stats.first_errors.size() < 10)
      stats.first_errors.push_back(csv_path + ":" + std::to_string(line_no) + ": " + why);
  };
  while (std::getline(in, line)) {
    ++line_no;
    if (line_no == 1 && line.starts_with("\xEF\xBB\xBF")) line.erase(0, 3);  // UTF-8 BOM
    std::string_view l = trim(line);
    if (l.empty() || l.front() == '#') continue;
    if (!seen_header) {
      seen_header = true;
      if (l == "card_no,status") continue;
    }
    ++stats.rows;
    auto comma = l.find(',');
    if (comma == std::string_view::npos) {
      reject("expected card_no,status");
      continue;
    }
    std::string_view card = trim(l.substr(0, comma));
    auto status = card_status_from(trim(l.substr(comma + 1)));
    if (!status) {
      reject("status must be active, lost, frozen or cancelled");
      continue;
    }
    std::string token;
    std::string masked;
    if (card.starts_with("token:")) {
      token = std::string(card.substr(6));
      if (!is_hex_token(token)) {
        reject("token must be 64 lower-case hex digits");
        continue;
      }
    } else {
      if (!is_plausible_card_number(card)) {
        reject("card number must be an 18-character citizen number or an 8..20 digit serial");
        continue;
      }
      token = tokenizer.token(card);
      masked = mask_card_number(card);
    }
    up->reset();
    up->bind(1, token);
    up->bind(2, to_string(*status));
    up->bind(3, masked);
    up->bind(4, now_ms);
    if (sqlite3_step(up->get()) != SQLITE_DONE) {
      std::string err = db.last_error();
      up->reset();
      (void)db.exec("ROLLBACK");
      return make_error("sqlite", csv_path + ":" + std::to_string(line_no) + ": " + err);
    }
    ++stats.upserted;
  }
  up->reset();
  auto bump = db.exec("UPDATE list_meta SET version = version + 1, updated_ms = " +
                      std::to_string(now_ms) + " WHERE id = 1");
  if (!bump) {
    (void)db.exec("ROLLBACK");
    return bump.error();
  }
  if (auto c = db.exec("COMMIT"); !c) {
    (void)db.exec("ROLLBACK");
    return c.error();
  }
  if (auto st = this->stats(); st) stats.version = st->version;
  return stats;
}

Result<CardListDb::Stats> CardListDb::stats() const {
  Stats s;
  auto meta = impl_->db.prepare("SELECT version FROM list_meta WHERE id = 1");
  if (!meta) return meta.error();
  if (sqlite3_step(meta->get()) == SQLITE_ROW) s.version = sqlite3_column_int64(meta->get(), 0);
  auto rows = impl_->db.prepare("SELECT status, count(*) FROM card GROUP BY status");
  if (!rows) return rows.error();
  while (sqlite3_step(rows->get()) == SQLITE_ROW) {
    auto status = card_status_from(rows->column_text(0));
    auto n = static_cast<std::uint64_t>(sqlite3_column_int64(rows->get(), 1));
    if (status) s.by_status[static_cast<int>(*status)] = n;
    s.total += n;
  }
  return s;
}

}  // namespace yktgw
