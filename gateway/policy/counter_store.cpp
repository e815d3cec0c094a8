#include "gateway/policy/counter_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "gateway/store/sqlite_util.h"

namespace yktgw {
namespace {

// Open parking entries older than this are dropped at start: a card that entered three months
// ago and never left is a lost exit record, and its exit is handled as one without entry.
constexpr std::int64_t kParkingEntryMaxAgeMs = 90LL * kDayMs;

constexpr char kScopeMeal = 'm';
constexpr char kScopeBus = 'b';
std::string_view scope_name(char scope) { return scope == kScopeMeal ? "meal" : "bus_offline"; }

}  // namespace

const std::vector<std::string_view>& CounterStore::migrations() {
  static const std::vector<std::string_view> m = {
      // v1: one row per counter scope and card, holding the counts of its latest day; open
      // parking entries per lot and card. Tokens only, never card numbers.
      R"sql(
CREATE TABLE card_day_counter (
  scope      TEXT    NOT NULL,  -- 'meal' | 'bus_offline'
  token      TEXT    NOT NULL,  -- HMAC-SM3 card token, lower-case hex
  day        INTEGER NOT NULL,  -- days since 1970-01-01, Asia/Shanghai
  count      INTEGER NOT NULL,  -- meals, or offline taps since the last online answer
  amount_fen INTEGER NOT NULL,  -- offline amount approved that day (bus)
  PRIMARY KEY (scope, token)
) WITHOUT ROWID;
CREATE INDEX card_day_counter_day ON card_day_counter(day);
CREATE TABLE parking_entry (
  lot      TEXT    NOT NULL,
  token    TEXT    NOT NULL,
  entry_ms INTEGER NOT NULL,  -- UTC ms of the approved entry tap
  PRIMARY KEY (lot, token)
) WITHOUT ROWID;
)sql",
  };
  return m;
}

CounterStore::CounterStore(const Clock& clock, std::unique_ptr<sqlite::Database> db,
                           std::chrono::milliseconds flush_interval,
                           std::shared_ptr<spdlog::logger> log)
    : clock_(clock), db_(std::move(db)), flush_interval_(flush_interval), log_(std::move(log)) {
  pruned_day_ = shanghai_day(clock_.wall_ms());
}

std::unique_ptr<CounterStore> CounterStore::in_memory(const Clock& clock) {
  return std::unique_ptr<CounterStore>(
      new CounterStore(clock, nullptr, std::chrono::milliseconds(0), nullptr));
}

Result<std::unique_ptr<CounterStore>> CounterStore::open(const Options& options, const Clock& clock,
                                                         std::shared_ptr<spdlog::logger> log) {
  auto db = sqlite::Database::open(options.path, /*create=*/true);
  if (!db) return db.error();
  // WAL lets the writer commit without blocking readers; NORMAL skips the fsync per commit,
  // which these counters do not need (see the header).
  if (auto r = db->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"); !r) {
    return make_error("sqlite", options.path + ": " + r.error().message);
  }
  if (auto r = sqlite::migrate(*db, migrations(), options.path); !r) return r.error();
  auto store = std::unique_ptr<CounterStore>(new CounterStore(
      clock, std::make_unique<sqlite::Database>(std::move(db.value())),
      std::max(options.flush_interval, std::chrono::milliseconds(1)), std::move(log)));
  if (auto r = store->load(); !r) {
    return make_error(r.error().code, options.path + ": " + r.error().message);
  }
  store->writer_ = std::thread([s = store.get()] { s->run(); });
  return store;
}

CounterStore::~CounterStore() { close(); }

Result<void> CounterStore::load() {
  const UtcMillis now = clock_.wall_ms();
  const LocalDay today = shanghai_day(now);
  {
    auto del = db_->prepare("DELETE FROM card_day_counter WHERE day < ?");
    if (!del) return del.error();
    del->bind(1, static_cast<std::int64_t>(today));
    if (sqlite3_step(del->get()) != SQLITE_DONE) return make_error("sqlite", db_->last_error());
    auto old = db_->prepare("DELETE FROM parking_entry WHERE entry_ms < ?");
    if (!old) return old.error();
    old->bind(1, now - kParkingEntryMaxAgeMs);
    if (sqlite3_step(old->get()) != SQLITE_DONE) return make_error("sqlite", db_->last_error());
  }
  auto rows = db_->prepare("SELECT scope, token, day, count, amount_fen FROM card_day_counter");
  if (!rows) return rows.error();
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(rows->get())) == SQLITE_ROW) {
    const std::string scope = rows->column_text(0);
    DayCount c;
    c.day = static_cast<LocalDay>(sqlite3_column_int64(rows->get(), 2));
    c.count = static_cast<std::int32_t>(sqlite3_column_int64(rows->get(), 3));
    c.amount_fen = sqlite3_column_int64(rows->get(), 4);
    if (scope == scope_name(kScopeMeal)) {
      meals_.insert_or_assign(rows->column_text(1), c);
    } else if (scope == scope_name(kScopeBus)) {
      bus_.insert_or_assign(rows->column_text(1), c);
    }
  }
  if (rc != SQLITE_DONE) return make_error("sqlite", db_->last_error());
  auto entries = db_->prepare("SELECT lot, token, entry_ms FROM parking_entry");
  if (!entries) return entries.error();
  while ((rc = sqlite3_step(entries->get())) == SQLITE_ROW) {
    ParkingSlot slot;
    slot.entry_ms = sqlite3_column_int64(entries->get(), 2);
    slot.present = true;
    parking_[entries->column_text(0)].insert_or_assign(entries->column_text(1), slot);
  }
  if (rc != SQLITE_DONE) return make_error("sqlite", db_->last_error());
  return {};
}

// ---- in-memory operations --------------------------------------------------------------------

void CounterStore::mark(DayCount& c, CounterNode& node, std::vector<CounterNode*>& dirty) {
  if (c.dirty) return;
  c.dirty = true;
  dirty.push_back(&node);
}

CounterStore::DayCount& CounterStore::touch(TokenMap<DayCount>& map,
                                            std::vector<CounterNode*>& dirty,
                                            std::string_view token, LocalDay day) {
  auto it = map.find(token);
  if (it == map.end()) it = map.emplace(std::string(token), DayCount{day, 0, 0, false}).first;
  DayCount& c = it->second;
  // A counter only moves forward: a tap stamped with an earlier day than the counter holds
  // (the wall clock stepped back over midnight) counts towards the later day instead of
  // starting that card's earlier day afresh.
  if (c.day < day) {
    c.day = day;
    c.count = 0;
    c.amount_fen = 0;
  }
  // Memory-only stores have no writer to empty the list.
  if (db_) mark(c, *it, dirty);
  return c;
}

int CounterStore::meals(std::string_view token, LocalDay day) const {
  std::lock_guard lock(mu_);
  const auto it = meals_.find(token);
  return it == meals_.end() || it->second.day < day ? 0 : it->second.count;
}

bool CounterStore::try_add_meal(std::string_view token, LocalDay day, int cap) {
  std::lock_guard lock(mu_);
  if (cap > 0) {
    const auto it = meals_.find(token);
    if (it != meals_.end() && it->second.day >= day && it->second.count >= cap) return false;
  }
  ++touch(meals_, dirty_meals_, token, day).count;
  return true;
}

void CounterStore::add_meal(std::string_view token, LocalDay day) {
  std::lock_guard lock(mu_);
  ++touch(meals_, dirty_meals_, token, day).count;
}

OfflineUse CounterStore::offline_use(std::string_view token, LocalDay day) const {
  std::lock_guard lock(mu_);
  const auto it = bus_.find(token);
  if (it == bus_.end() || it->second.day < day) return {};
  return OfflineUse{it->second.amount_fen, it->second.count};
}

OfflineTake CounterStore::try_take_offline(std::string_view token, LocalDay day, Fen amount,
                                           Fen daily_cap_fen, int max_taps) {
  std::lock_guard lock(mu_);
  OfflineUse use;
  if (const auto it = bus_.find(token); it != bus_.end() && it->second.day >= day) {
    use = OfflineUse{it->second.amount_fen, it->second.count};
  }
  if (use.amount_fen + amount > daily_cap_fen) return OfflineTake::daily_cap;
  if (use.taps + 1 > max_taps) return OfflineTake::tap_cap;
  DayCount& c = touch(bus_, dirty_bus_, token, day);
  c.amount_fen += amount;
  ++c.count;
  return OfflineTake::taken;
}

void CounterStore::online_contact(std::string_view token, LocalDay day) {
  std::lock_guard lock(mu_);
  const auto it = bus_.find(token);
  if (it == bus_.end() || it->second.day < day || it->second.count == 0) return;
  touch(bus_, dirty_bus_, token, day).count = 0;
}

std::optional<UtcMillis> CounterStore::parking_entry(std::string_view lot,
                                                     std::string_view token) const {
  std::lock_guard lock(mu_);
  const auto l = parking_.find(lot);
  if (l == parking_.end()) return std::nullopt;
  const auto it = l->second.find(token);
  if (it == l->second.end() || !it->second.present) return std::nullopt;
  return it->second.entry_ms;
}

void CounterStore::set_parking_entry(std::string_view lot, std::string_view token,
                                     UtcMillis entry_ms) {
  std::lock_guard lock(mu_);
  auto l = parking_.find(lot);
  if (l == parking_.end()) l = parking_.emplace(std::string(lot), TokenMap<ParkingSlot>{}).first;
  auto it = l->second.find(token);
  if (it == l->second.end()) it = l->second.emplace(std::string(token), ParkingSlot{}).first;
  it->second.entry_ms = entry_ms;
  it->second.present = true;
  if (db_ && !it->second.dirty) {
    it->second.dirty = true;
    dirty_parking_.emplace_back(&l->first, &*it);
  }
}

void CounterStore::clear_parking_entry(std::string_view lot, std::string_view token) {
  std::lock_guard lock(mu_);
  const auto l = parking_.find(lot);
  if (l == parking_.end()) return;
  const auto it = l->second.find(token);
  if (it == l->second.end() || !it->second.present) return;
  if (!db_) {
    l->second.erase(it);
    return;
  }
  // Kept as a tombstone until the writer has deleted the row.
  it->second.present = false;
  if (!it->second.dirty) {
    it->second.dirty = true;
    dirty_parking_.emplace_back(&l->first, &*it);
  }
}

CounterStore::Stats CounterStore::stats() const {
  std::lock_guard lock(mu_);
  Stats s = stats_;
  s.meal_cards = meals_.size();
  s.bus_cards = bus_.size();
  s.parking_entries = 0;
  for (const auto& [lot, slots] : parking_) s.parking_entries += slots.size();
  return s;
}

// ---- write-behind ----------------------------------------------------------------------------

void CounterStore::run() {
  std::unique_lock lock(run_mu_);
  while (!stopping_) {
    run_cv_.wait_for(lock, flush_interval_, [&] { return stopping_; });
    lock.unlock();
    (void)flush();  // failures are counted and logged there; the rows stay dirty
    lock.lock();
  }
}

Result<void> CounterStore::flush() {
  if (!db_) return {};
  std::lock_guard write_lock(write_mu_);
  std::vector<CounterRow> counters;
  std::vector<ParkingRow> parking;
  const LocalDay today = shanghai_day(clock_.wall_ms());
  {
    std::lock_guard lock(mu_);
    counters.reserve(dirty_meals_.size() + dirty_bus_.size());
    for (CounterNode* n : dirty_meals_) {
      n->second.dirty = false;
      counters.push_back(CounterRow{kScopeMeal, n->first, n->second});
    }
    for (CounterNode* n : dirty_bus_) {
      n->second.dirty = false;
      counters.push_back(CounterRow{kScopeBus, n->first, n->second});
    }
    for (auto& [lot, n] : dirty_parking_) {
      n->second.dirty = false;
      parking.push_back(ParkingRow{*lot, n->first, n->second});
    }
    dirty_meals_.clear();
    dirty_bus_.clear();
    dirty_parking_.clear();
  }
  if (counters.empty() && parking.empty() && today == pruned_day_) return {};

  auto written = write(counters, parking);
  std::lock_guard lock(mu_);
  if (!written) {
    ++stats_.flush_failures;
    // Mark again so the next round writes the newest values.
    for (const CounterRow& r : counters) {
      auto& map = r.scope == kScopeMeal ? meals_ : bus_;
      auto& dirty = r.scope == kScopeMeal ? dirty_meals_ : dirty_bus_;
      if (auto it = map.find(r.token); it != map.end()) mark(it->second, *it, dirty);
    }
    for (const ParkingRow& r : parking) {
      auto l = parking_.find(r.lot);
      if (l == parking_.end()) continue;
      auto it = l->second.find(r.token);
      if (it == l->second.end() || it->second.dirty) continue;
      it->second.dirty = true;
      dirty_parking_.emplace_back(&l->first, &*it);
    }
    if (log_ && stats_.flush_failures % 1000 == 1) {
      log_->error("state flush failed error=\"{}\" failures={}", written.error().message,
                  stats_.flush_failures);
    }
    return written;
  }
  ++stats_.flushes;
  stats_.rows_written += counters.size() + parking.size();
  // Deleted entries can go now that their rows are gone, unless touched again meanwhile.
  for (const ParkingRow& r : parking) {
    if (r.value.present) continue;
    auto l = parking_.find(r.lot);
    if (l == parking_.end()) continue;
    auto it = l->second.find(r.token);
    if (it != l->second.end() && !it->second.present && !it->second.dirty) l->second.erase(it);
  }
  if (today != pruned_day_) prune_locked(today);
  return {};
}

void CounterStore::prune_locked(LocalDay today) {
  // Counters of past days read as zero anyway; dropping them keeps memory to the cards seen
  // today. Dirty ones wait for the next round so their node addresses stay valid.
  for (auto* map : {&meals_, &bus_}) {
    std::erase_if(*map, [&](const auto& kv) { return kv.second.day < today && !kv.second.dirty; });
  }
  if (auto del = db_->prepare("DELETE FROM card_day_counter WHERE day < ?")) {
    del->bind(1, static_cast<std::int64_t>(today));
    if (sqlite3_step(del->get()) == SQLITE_DONE) pruned_day_ = today;
  }
}

Result<void> CounterStore::write(const std::vector<CounterRow>& counters,
                                 const std::vector<ParkingRow>& parking) {
  if (counters.empty() && parking.empty()) return {};
  if (auto r = db_->exec("BEGIN IMMEDIATE"); !r) return r;
  auto fail = [&]() -> Result<void> {
    Error e = make_error("sqlite", db_->last_error());
    (void)db_->exec("ROLLBACK");
    return e;
  };
  auto upsert = db_->prepare(
      "INSERT INTO card_day_counter (scope, token, day, count, amount_fen) VALUES (?, ?, ?, ?, ?) "
      "ON CONFLICT (scope, token) DO UPDATE SET day = excluded.day, count = excluded.count, "
      "amount_fen = excluded.amount_fen");
  auto put = db_->prepare(
      "INSERT OR REPLACE INTO parking_entry (lot, token, entry_ms) "
      "VALUES (?, ?, ?)");
  auto del = db_->prepare("DELETE FROM parking_entry WHERE lot = ? AND token = ?");
  if (!upsert || !put || !del) return fail();
  for (const CounterRow& r : counters) {
    upsert->reset();
    upsert->bind(1, scope_name(r.scope));
    upsert->bind(2, r.token);
    upsert->bind(3, static_cast<std::int64_t>(r.value.day));
    upsert->bind(4, static_cast<std::int64_t>(r.value.count));
    upsert->bind(5, r.value.amount_fen);
    if (sqlite3_step(upsert->get()) != SQLITE_DONE) return fail();
  }
  for (const ParkingRow& r : parking) {
    const sqlite::Statement& st = r.value.present ? *put : *del;
    st.reset();
    st.bind(1, r.lot);
    st.bind(2, r.token);
    if (r.value.present) st.bind(3, r.value.entry_ms);
    if (sqlite3_step(st.get()) != SQLITE_DONE) return fail();
  }
  if (auto r = db_->exec("COMMIT"); !r) {
    (void)db_->exec("ROLLBACK");
    return r;
  }
  return {};
}

void CounterStore::close() {
  {
    std::lock_guard lock(run_mu_);
    if (closed_) return;
    closed_ = true;
    stopping_ = true;
  }
  run_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  if (auto r = flush(); !r && log_) {
    log_->error("state flush at close failed error=\"{}\"", r.error().message);
  }
}

}  // namespace yktgw
