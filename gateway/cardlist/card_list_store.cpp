#include "gateway/cardlist/card_list_store.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <fstream>
#include <new>
#include <ostream>

#include "gateway/core/card_number.h"
#include "gateway/store/sqlite_util.h"

namespace yktgw {

std::string_view to_string(CardStatus s) {
  switch (s) {
    case CardStatus::active:
      return "active";
    case CardStatus::lost:
      return "lost";
    case CardStatus::frozen:
      return "frozen";
    case CardStatus::cancelled:
      return "cancelled";
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

void apply_to_group(PrefixGroup& g, std::span<const FeedEntry> run,
                    const AttributeMap& feed_to_memory) {
  for (const FeedEntry& e : run) {
    auto at = std::lower_bound(
        g.tokens.begin(), g.tokens.end(), e.token,
        [](const IndexedToken& t, const TokenBytes& want) { return t.token < want; });
    const bool present = at != g.tokens.end() && at->token == e.token;
    if (e.op == FeedOp::remove) {
      if (present) g.tokens.erase(at);
    } else {
      const std::uint32_t packed = pack_entry(CardEntry{e.status, feed_to_memory(e.attributes)});
      if (present) {
        at->packed = packed;
      } else {
        g.tokens.insert(at, IndexedToken{e.token, packed});
      }
    }
  }
}

Result<void> check_feed_sequence(const ListMeta& current, const FeedHeader& feed) {
  const bool from_feed = !current.feed_id.empty();
  if (feed.kind == FeedKind::delta) {
    if (!from_feed) {
      return make_error("feed_version_gap",
                        "card list feed refused: a delta cannot apply to a list built from CSV "
                        "imports (version " +
                            std::to_string(current.version) + "); a snapshot must come first");
    }
    if (feed.base_version != current.version) {
      return make_error("feed_version_gap", "card list feed refused: delta from version " +
                                                std::to_string(feed.base_version) +
                                                " but the list is at version " +
                                                std::to_string(current.version));
    }
    return {};
  }
  if (from_feed && feed.version < current.version) {
    return make_error("feed_stale_snapshot", "card list feed refused: snapshot version " +
                                                 std::to_string(feed.version) +
                                                 " is older than the list in use (version " +
                                                 std::to_string(current.version) + ")");
  }
  return {};
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

// v2: attributes as bits with the database's own table of group names; the feed that last
// changed the list (empty while the list comes from CSV imports); when the platform last
// confirmed the list current (gateway wall time), which the list's age counts from.
constexpr std::string_view kSchemaV2 = R"sql(
ALTER TABLE card ADD COLUMN attributes INTEGER NOT NULL DEFAULT 0
  CHECK (attributes BETWEEN 0 AND 4294967295);
ALTER TABLE list_meta ADD COLUMN feed_id TEXT NOT NULL DEFAULT '';
ALTER TABLE list_meta ADD COLUMN checked_ms INTEGER NOT NULL DEFAULT 0;
CREATE TABLE card_group (
  bit   INTEGER PRIMARY KEY CHECK (bit BETWEEN 8 AND 31),
  name  TEXT    NOT NULL UNIQUE
) STRICT;
)sql";

constexpr std::string_view kUpsertFromFeed =
    "INSERT INTO card (token, status, masked, updated_ms, attributes) VALUES (?1, ?2, '', ?3, ?4) "
    "ON CONFLICT (token) DO UPDATE SET status = excluded.status, "
    "attributes = excluded.attributes, updated_ms = excluded.updated_ms";

bool is_hex_token(std::string_view s) { return token_from_hex(s).has_value(); }

// A masked card number as mask_card_number writes it: at most 20 of 0-9 A-Z and '*', with at
// least four '*' so that no full number can pass as a mask. Empty means unknown.
bool is_masked_form(std::string_view s) {
  if (s.empty()) return true;
  if (s.size() > 20) return false;
  std::size_t stars = 0;
  for (char c : s) {
    if (c == '*') {
      ++stars;
    } else if (!std::isdigit(static_cast<unsigned char>(c)) && !(c >= 'A' && c <= 'Z')) {
      return false;
    }
  }
  return stars >= 4;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// The CHECK constraint leaves four spellings; the first letter tells them apart.
std::optional<CardStatus> status_from_column(sqlite3_stmt* st, int col) {
  const auto* p = sqlite3_column_text(st, col);
  if (p == nullptr) return std::nullopt;
  switch (p[0]) {
    case 'a':
      return CardStatus::active;
    case 'l':
      return CardStatus::lost;
    case 'f':
      return CardStatus::frozen;
    case 'c':
      return CardStatus::cancelled;
    default:
      return std::nullopt;
  }
}

std::optional<TokenBytes> token_from_column(sqlite3_stmt* st, int col) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, col));
  if (p == nullptr) return std::nullopt;
  return token_from_hex(
      std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(st, col))));
}

Error sqlite_error(const sqlite::Database& db, const std::string& what) {
  return make_error("sqlite", what + ": " + db.last_error());
}

// Rolls back unless committed, so every early return leaves the database as it was.
class Transaction {
 public:
  explicit Transaction(const sqlite::Database& db) : db_(db) {}
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction() {
    if (open_) (void)db_.exec("ROLLBACK");
  }
  Result<void> begin(std::string_view how = "BEGIN IMMEDIATE") {
    auto r = db_.exec(how);
    open_ = r.ok();
    return r;
  }
  Result<void> commit() {
    auto r = db_.exec("COMMIT");
    if (r) open_ = false;
    return r;
  }

 private:
  const sqlite::Database& db_;
  bool open_ = false;
};

Result<AttributeNames> read_groups(const sqlite::Database& db) {
  auto st = db.prepare("SELECT bit, name FROM card_group ORDER BY bit");
  if (!st) return st.error();
  std::vector<std::string> names;
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(st->get())) == SQLITE_ROW) {
    const int bit = sqlite3_column_int(st->get(), 0);
    if (bit != kFirstGroupBit + static_cast<int>(names.size())) {
      return make_error("schema", "card_group bits must run from 8 without gaps");
    }
    names.push_back(st->column_text(1));
  }
  if (rc != SQLITE_DONE) return sqlite_error(db, "reading card_group");
  return AttributeNames::from(std::move(names));
}

// Appends to the stored group table the names of `wanted` it lacks; `stored` follows.
Result<void> add_groups(const sqlite::Database& db, AttributeNames& stored,
                        const std::vector<std::string>& wanted) {
  auto ins = db.prepare("INSERT INTO card_group (bit, name) VALUES (?1, ?2)");
  if (!ins) return ins.error();
  for (const auto& name : wanted) {
    if (stored.bit(name)) continue;
    auto bit = stored.add(name);
    if (!bit) {
      return make_error("too_many_groups",
                        "cannot add group '" + name + "' to the card list: " + bit.error().message);
    }
    ins->reset();
    ins->bind(1, static_cast<std::int64_t>(std::countr_zero(*bit)));
    ins->bind(2, name);
    if (sqlite3_step(ins->get()) != SQLITE_DONE) return sqlite_error(db, "adding a group");
  }
  return {};
}

Result<ListMeta> read_meta(const sqlite::Database& db) {
  auto st = db.prepare("SELECT version, updated_ms, feed_id FROM list_meta WHERE id = 1");
  if (!st) return st.error();
  if (sqlite3_step(st->get()) != SQLITE_ROW) return sqlite_error(db, "reading list_meta");
  ListMeta m;
  m.version = sqlite3_column_int64(st->get(), 0);
  m.updated_ms = sqlite3_column_int64(st->get(), 1);
  m.feed_id = st->column_text(2);
  return m;
}

}  // namespace

struct CardListDb::Impl {
  sqlite::Database db;
  std::string path;
  AttributeNames names;   // the order used in memory (config)
  AttributeNames stored;  // the database's card_group table
};

CardListDb::CardListDb(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CardListDb::CardListDb(CardListDb&&) noexcept = default;
CardListDb& CardListDb::operator=(CardListDb&&) noexcept = default;
CardListDb::~CardListDb() = default;

const std::vector<std::string_view>& CardListDb::migrations() {
  static const std::vector<std::string_view> kMigrations{kSchemaV1, kSchemaV2};
  return kMigrations;
}

Result<CardListDb> CardListDb::open(const std::string& path) {
  auto names = AttributeNames::parse(kDefaultCardGroups);
  if (!names) return names.error();
  return open(path, *names);
}

Result<CardListDb> CardListDb::open(const std::string& path, const AttributeNames& names) {
  auto db = sqlite::Database::open(path, /*create=*/true);
  if (!db) return db.error();
  if (auto r = db->exec("PRAGMA journal_mode=WAL"); !r) return r.error();
  if (auto r = db->exec("PRAGMA synchronous=FULL"); !r) return r.error();
  // A delta lands on pages all over a table of gigabytes: a larger page cache (64 MiB, taken
  // as it is used) halves the time its writes take. Checkpoints run after the new index is
  // serving (checkpoint()), not inside the commit that precedes the swap.
  if (auto r = db->exec("PRAGMA cache_size=-65536"); !r) return r.error();
  if (auto r = db->exec("PRAGMA wal_autocheckpoint=0"); !r) return r.error();
  if (auto v = sqlite::migrate(*db, migrations(), path); !v) return v.error();
  auto stored = read_groups(*db);
  if (!stored) return stored.error();
  bool missing = false;
  for (const auto& g : names.groups()) missing = missing || !stored->bit(g);
  if (missing) {
    Transaction txn(*db);
    if (auto r = txn.begin(); !r) return r.error();
    stored = read_groups(*db);  // another process may have added some meanwhile
    if (!stored) return stored.error();
    if (auto r = add_groups(*db, *stored, names.groups()); !r) return r.error();
    if (auto r = txn.commit(); !r) return r.error();
  }
  auto impl = std::make_unique<Impl>();
  impl->db = std::move(db.value());
  impl->path = path;
  impl->names = names;
  impl->stored = std::move(stored.value());
  return CardListDb(std::move(impl));
}

Result<ListMeta> CardListDb::meta() const { return read_meta(impl_->db); }

const AttributeNames& CardListDb::stored_groups() const { return impl_->stored; }

Result<void> CardListDb::checkpoint() { return impl_->db.exec("PRAGMA wal_checkpoint(TRUNCATE)"); }

Result<std::int64_t> CardListDb::checked_ms() const {
  auto st = impl_->db.prepare("SELECT checked_ms FROM list_meta WHERE id = 1");
  if (!st) return st.error();
  if (sqlite3_step(st->get()) != SQLITE_ROW) return sqlite_error(impl_->db, "reading list_meta");
  return static_cast<std::int64_t>(sqlite3_column_int64(st->get(), 0));
}

Result<void> CardListDb::set_checked_ms(std::int64_t now_ms) {
  auto st = impl_->db.prepare("UPDATE list_meta SET checked_ms = ?1 WHERE id = 1");
  if (!st) return st.error();
  st->bind(1, now_ms);
  if (sqlite3_step(st->get()) != SQLITE_DONE) return sqlite_error(impl_->db, "writing list_meta");
  return {};
}

Result<std::shared_ptr<const CardIndex>> CardListDb::load_index() const {
  const auto& db = impl_->db;
  Transaction read(db);  // one snapshot of meta and rows, even while an import writes
  if (auto r = read.begin("BEGIN"); !r) return r.error();
  auto meta = read_meta(db);
  if (!meta) return meta.error();
  auto st = db.prepare("SELECT token, status, attributes FROM card ORDER BY token");
  if (!st) return st.error();
  const AttributeMap to_memory(impl_->stored, impl_->names);
  try {
    CardIndexBuilder builder;
    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(st->get())) == SQLITE_ROW) {
      auto token = token_from_column(st->get(), 0);
      auto status = status_from_column(st->get(), 1);
      const auto attributes =
          to_memory(static_cast<HolderAttributes>(sqlite3_column_int64(st->get(), 2)));
      if (!token || !status || !storable(attributes)) {
        return make_error("corrupt", impl_->path + ": card row that cannot be read");
      }
      builder.add(*token, pack_entry(CardEntry{*status, attributes}));
    }
    if (rc != SQLITE_DONE) return sqlite_error(db, "reading the card list");
    return builder.finish(std::move(meta.value()));
  } catch (const std::bad_alloc&) {
    return make_error("out_of_memory", "not enough memory to load the card list");
  }
}

Result<CardListDb::ImportStats> CardListDb::import_csv(const std::string& csv_path,
                                                       const CardTokenizer& tokenizer,
                                                       std::int64_t now_ms) {
  std::ifstream in(csv_path);
  if (!in) return make_error("io", "cannot read '" + csv_path + "'");
  ImportStats stats;
  auto& db = impl_->db;
  Transaction txn(db);
  if (auto r = txn.begin(); !r) return r.error();
  auto meta = read_meta(db);
  if (!meta) return meta.error();
  if (!meta->feed_id.empty()) {
    return make_error("managed_by_feed",
                      "the card list comes from the platform feed (version " +
                          std::to_string(meta->version) +
                          "); a CSV import would break its version sequence. Change cards on the "
                          "platform, or clear cardlist.feed_url and start from an empty "
                          "cardlist.db to manage the list by CSV");
  }
  auto up = db.prepare(
      "INSERT INTO card (token, status, masked, updated_ms, attributes) "
      "VALUES (?1, ?2, ?3, ?4, ?5) "
      "ON CONFLICT (token) DO UPDATE SET status = excluded.status, "
      "masked = CASE WHEN excluded.masked = '' THEN card.masked ELSE excluded.masked END, "
      "updated_ms = excluded.updated_ms, "
      "attributes = CASE WHEN ?6 THEN excluded.attributes ELSE card.attributes END");
  if (!up) return up.error();
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
      if (l == "card_no,status" || l == "card_no,status,attributes" ||
          l == "card_no,status,attributes,masked") {
        continue;
      }
    }
    ++stats.rows;
    auto comma = l.find(',');
    if (comma == std::string_view::npos) {
      reject("expected card_no,status[,attributes]");
      continue;
    }
    std::string_view card = trim(l.substr(0, comma));
    std::string_view rest = l.substr(comma + 1);
    const auto second = rest.find(',');
    const bool has_attributes = second != std::string_view::npos;
    auto status = card_status_from(trim(rest.substr(0, second)));
    if (!status) {
      reject("status must be active, lost, frozen or cancelled");
      continue;
    }
    HolderAttributes attributes = 0;
    std::string_view given_mask;
    std::string_view attribute_field =
        has_attributes ? rest.substr(second + 1) : std::string_view{};
    if (const auto third = attribute_field.find(','); third != std::string_view::npos) {
      given_mask = trim(attribute_field.substr(third + 1));
      attribute_field = attribute_field.substr(0, third);
      if (!is_masked_form(given_mask)) {
        reject("masked must be digits and letters with '*' in place of the hidden middle");
        continue;
      }
    }
    if (has_attributes) {
      auto parsed = impl_->stored.parse_set(attribute_field);
      if (!parsed) {
        reject(parsed.error().message);
        continue;
      }
      attributes = *parsed;
    }
    std::string token;
    std::string masked;
    if (card.starts_with("token:")) {
      token = std::string(card.substr(6));
      if (!is_hex_token(token)) {
        reject("token must be 64 lower-case hex digits");
        continue;
      }
      masked = std::string(given_mask);
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
    up->bind(5, static_cast<std::int64_t>(attributes));
    up->bind(6, std::int64_t{has_attributes ? 1 : 0});
    if (sqlite3_step(up->get()) != SQLITE_DONE) {
      std::string err = db.last_error();
      up->reset();
      return make_error("sqlite", csv_path + ":" + std::to_string(line_no) + ": " + err);
    }
    ++stats.upserted;
  }
  up->reset();
  if (auto r = db.exec("UPDATE list_meta SET version = version + 1, updated_ms = " +
                       std::to_string(now_ms) + " WHERE id = 1");
      !r) {
    return r.error();
  }
  if (auto r = txn.commit(); !r) return r.error();
  (void)checkpoint();  // the command-line tool is done; the gateway may be reading
  stats.version = meta->version + 1;
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

Result<void> CardListDb::apply_feed(const Feed& feed, const OnReady& ready,
                                    const PrefixFilter& maybe_listed) {
  auto& db = impl_->db;
  const FeedHeader& h = feed.header;
  Transaction txn(db);
  if (auto r = txn.begin(); !r) return r.error();
  auto meta = read_meta(db);
  if (!meta) return meta.error();
  if (auto r = check_feed_sequence(*meta, h); !r) return r.error();

  auto feed_names = AttributeNames::from(h.groups);
  if (!feed_names) return feed_names.error();
  AttributeNames stored = impl_->stored;
  if (auto r = add_groups(db, stored, h.groups); !r) return r.error();
  const AttributeMap feed_to_db(*feed_names, stored);
  const AttributeMap db_to_memory(stored, impl_->names);
  const AttributeMap feed_to_memory(*feed_names, impl_->names);

  try {
    // What the touched prefixes will hold, worked out from what they hold now: the index keys
    // on 64 bits, so it needs every token that shares a prefix with a change, and only SQLite
    // has them in full. Known before a row is written, so the caller can serve the new list
    // while the writes run.
    std::vector<PrefixGroup> touched;
    if (h.kind == FeedKind::delta) {
      auto group = db.prepare(
          "SELECT token, status, attributes FROM card WHERE token BETWEEN ?1 AND ?2 "
          "ORDER BY token");
      if (!group) return group.error();
      const auto& entries = feed.entries;
      for (std::size_t i = 0; i < entries.size();) {
        const std::uint64_t prefix = token_prefix(entries[i].token);
        PrefixGroup g{prefix, {}};
        const bool query = !maybe_listed || maybe_listed(prefix);
        const std::string head = token_to_hex(entries[i].token).substr(0, 16);
        group->reset();
        group->bind(1, head + std::string(48, '0'));
        group->bind(2, head + std::string(48, 'f'));
        int rc = query ? SQLITE_ROW : SQLITE_DONE;
        while (query && (rc = sqlite3_step(group->get())) == SQLITE_ROW) {
          auto token = token_from_column(group->get(), 0);
          auto status = status_from_column(group->get(), 1);
          const auto attributes =
              db_to_memory(static_cast<HolderAttributes>(sqlite3_column_int64(group->get(), 2)));
          if (!token || !status || !storable(attributes)) {
            return make_error("corrupt", impl_->path + ": card row that cannot be read");
          }
          g.tokens.push_back(IndexedToken{*token, pack_entry(CardEntry{*status, attributes})});
        }
        if (rc != SQLITE_DONE) return sqlite_error(db, "reading a changed card");
        const std::size_t first = i;
        while (i < entries.size() && token_prefix(entries[i].token) == prefix) ++i;
        apply_to_group(g, std::span(entries).subspan(first, i - first), feed_to_memory);
        touched.push_back(std::move(g));
      }
    }
    if (auto r = ready(std::move(touched)); !r) return r.error();

    auto up = db.prepare(kUpsertFromFeed);
    if (!up) return up.error();
    auto del = db.prepare("DELETE FROM card WHERE token = ?1");
    if (!del) return del.error();
    auto upsert = [&](const FeedEntry& e) -> Result<void> {
      up->reset();
      up->bind(1, token_to_hex(e.token));
      up->bind(2, to_string(e.status));
      up->bind(3, h.created_ms);
      up->bind(4, static_cast<std::int64_t>(feed_to_db(e.attributes)));
      if (sqlite3_step(up->get()) != SQLITE_DONE) return sqlite_error(db, "writing a card");
      return {};
    };
    auto remove = [&](const std::string& token_hex) -> Result<void> {
      del->reset();
      del->bind(1, token_hex);
      if (sqlite3_step(del->get()) != SQLITE_DONE) return sqlite_error(db, "deleting a card");
      return {};
    };

    if (h.kind == FeedKind::snapshot) {
      // Writes only the difference, so re-sending a snapshot of an unchanged list costs a read.
      std::vector<std::string> gone;
      std::vector<const FeedEntry*> changed;
      auto rows = db.prepare("SELECT token, status, attributes FROM card ORDER BY token");
      if (!rows) return rows.error();
      std::size_t i = 0;
      const auto& entries = feed.entries;
      int rc = SQLITE_ROW;
      while ((rc = sqlite3_step(rows->get())) == SQLITE_ROW) {
        auto token = token_from_column(rows->get(), 0);
        if (!token) return make_error("corrupt", impl_->path + ": card row that cannot be read");
        while (i < entries.size() && entries[i].token < *token) changed.push_back(&entries[i++]);
        if (i < entries.size() && entries[i].token == *token) {
          const auto status = status_from_column(rows->get(), 1);
          const auto attributes =
              static_cast<HolderAttributes>(sqlite3_column_int64(rows->get(), 2));
          if (status != entries[i].status || attributes != feed_to_db(entries[i].attributes)) {
            changed.push_back(&entries[i]);
          }
          ++i;
        } else {
          gone.push_back(rows->column_text(0));
        }
      }
      if (rc != SQLITE_DONE) return sqlite_error(db, "reading the card list");
      while (i < entries.size()) changed.push_back(&entries[i++]);
      rows->reset();
      for (const auto& t : gone)
        if (auto r = remove(t); !r) return r.error();
      for (const FeedEntry* e : changed)
        if (auto r = upsert(*e); !r) return r.error();
    } else {
      for (const auto& e : feed.entries) {
        auto r = e.op == FeedOp::upsert ? upsert(e) : remove(token_to_hex(e.token));
        if (!r) return r.error();
      }
    }
  } catch (const std::bad_alloc&) {
    return make_error("out_of_memory", "not enough memory to apply the card list feed");
  }

  auto m =
      db.prepare("UPDATE list_meta SET version = ?1, updated_ms = ?2, feed_id = ?3 WHERE id = 1");
  if (!m) return m.error();
  m->bind(1, h.version);
  m->bind(2, h.created_ms);
  m->bind(3, feed.id);
  if (sqlite3_step(m->get()) != SQLITE_DONE) return sqlite_error(db, "updating list_meta");
  m->reset();
  if (auto r = txn.commit(); !r) return r.error();
  impl_->stored = std::move(stored);
  return {};
}

Result<std::uint64_t> CardListDb::export_csv(std::ostream& out) const {
  auto& db = impl_->db;
  Transaction txn(db);  // one consistent version even while the gateway applies a delta
  if (auto r = txn.begin("BEGIN"); !r) return r.error();
  auto meta = read_meta(db);
  if (!meta) return meta.error();
  auto count = db.prepare("SELECT count(*) FROM card");
  if (!count) return count.error();
  if (sqlite3_step(count->get()) != SQLITE_ROW) return sqlite_error(db, "counting the card list");
  const auto total = static_cast<std::uint64_t>(sqlite3_column_int64(count->get(), 0));
  count->reset();
  out << "# yktgw card list version=" << meta->version << " cards=" << total;
  if (!meta->feed_id.empty()) out << " feed=" << meta->feed_id;
  out << "\ncard_no,status,attributes,masked\n";
  auto st = db.prepare("SELECT token, status, attributes, masked FROM card ORDER BY token");
  if (!st) return st.error();
  std::uint64_t written = 0;
  int rc;
  while ((rc = sqlite3_step(st->get())) == SQLITE_ROW) {
    auto text = [&](int col) {
      const auto* p = sqlite3_column_text(st->get(), col);
      return std::string_view(p ? reinterpret_cast<const char*>(p) : "",
                              static_cast<std::size_t>(sqlite3_column_bytes(st->get(), col)));
    };
    out << "token:" << text(0) << ',' << text(1) << ','
        << impl_->stored.format_set(
               static_cast<HolderAttributes>(sqlite3_column_int64(st->get(), 2)))
        << ',' << text(3) << '\n';
    ++written;
  }
  if (rc != SQLITE_DONE) return sqlite_error(db, "reading the card list");
  if (!out) return make_error("io", "writing the export failed");
  return written;
}

}  // namespace yktgw
