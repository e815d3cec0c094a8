#pragma once
// Per-card counters the policies keep: meals per card per day (canteen), offline bus amount and
// taps per card per day, open parking entries per lot. Decisions read and update them in
// memory (a mutex and a hash lookup, well under a microsecond); a write-behind thread copies
// what changed to SQLite (state.db) every flush interval and on close, so a restart does not
// reset a daily cap.
//
// What a crash can lose: the changes made since the last flush began, i.e. one flush interval
// (policy.state_flush_ms, default 5 ms) plus the commit in progress. Batches are normally a few
// rows; under a synthetic burst of ~700k changes/s over 20k cards a batch held ~16k rows and took
// ~0.1 s, and the window grows with it. Power loss can also lose the last commits, since the file
// runs in WAL mode with synchronous=NORMAL (these are risk limits, not money records; the
// transaction records themselves go through the durable record store).
//
// Days are Asia/Shanghai days (LocalDay); a counter of an earlier day reads as zero. A card's
// counter never goes back to an earlier day: when the wall clock steps back over midnight, taps
// keep counting towards the later day the counter already holds, so a clock step cannot grant
// a second day's cap.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "gateway/core/records.h"
#include "gateway/core/result.h"
#include "gateway/interfaces/clock.h"
#include "gateway/policy/local_time.h"

namespace spdlog {
class logger;
}

namespace yktgw {

namespace sqlite {
class Database;
}

struct OfflineUse {
  Fen amount_fen = 0;  // approved offline today
  int taps = 0;        // offline approvals today since the card's last online answer
  bool operator==(const OfflineUse&) const = default;
};

enum class OfflineTake : std::uint8_t { taken, daily_cap, tap_cap };

class CounterStore {
 public:
  struct Options {
    std::string path;  // state.db
    std::chrono::milliseconds flush_interval{5};
  };

  struct Stats {
    std::uint64_t flushes = 0;
    std::uint64_t rows_written = 0;
    std::uint64_t flush_failures = 0;
    std::size_t meal_cards = 0;
    std::size_t bus_cards = 0;
    std::size_t parking_entries = 0;
  };

  // Opens (creating and migrating) the file, loads today's counters and the open parking
  // entries, and starts the writer.
  static Result<std::unique_ptr<CounterStore>> open(const Options& options, const Clock& clock,
                                                    std::shared_ptr<spdlog::logger> log);
  // Memory only: nothing survives the process (benchmarks, tests that do not restart).
  static std::unique_ptr<CounterStore> in_memory(const Clock& clock);

  ~CounterStore();
  CounterStore(const CounterStore&) = delete;
  CounterStore& operator=(const CounterStore&) = delete;

  // Writes what is pending and stops the writer; idempotent. Later changes stay in memory.
  void close();
  // Writes what is pending now; any thread.
  Result<void> flush();

  static const std::vector<std::string_view>& migrations();

  // ---- canteen: meals per card per day
  int meals(std::string_view token, LocalDay day) const;
  // Counts a meal unless `cap` (> 0) meals were already counted that day; cap <= 0: no cap.
  bool try_add_meal(std::string_view token, LocalDay day, int cap);
  void add_meal(std::string_view token, LocalDay day);

  // ---- bus: offline use per card per day
  OfflineUse offline_use(std::string_view token, LocalDay day) const;
  // Counts an offline tap of `amount` unless it would pass `daily_cap_fen` or `max_taps`.
  OfflineTake try_take_offline(std::string_view token, LocalDay day, Fen amount, Fen daily_cap_fen,
                               int max_taps);
  // The platform answered for this card: the run of offline taps starts again.
  void online_contact(std::string_view token, LocalDay day);

  // ---- parking: open entries per lot
  std::optional<UtcMillis> parking_entry(std::string_view lot, std::string_view token) const;
  void set_parking_entry(std::string_view lot, std::string_view token, UtcMillis entry_ms);
  void clear_parking_entry(std::string_view lot, std::string_view token);

  Stats stats() const;

 private:
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  template <typename V>
  using TokenMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

  struct DayCount {
    LocalDay day = 0;
    std::int32_t count = 0;
    Fen amount_fen = 0;
    bool dirty = false;
  };
  struct ParkingSlot {
    UtcMillis entry_ms = 0;
    bool present = false;  // false: deleted, waiting for the writer to delete the row
    bool dirty = false;
  };
  using CounterNode = std::pair<const std::string, DayCount>;
  using ParkingNode = std::pair<const std::string, ParkingSlot>;

  struct CounterRow {
    char scope;  // 'm' meal, 'b' bus offline
    std::string token;
    DayCount value;
  };
  struct ParkingRow {
    std::string lot;
    std::string token;
    ParkingSlot value;
  };

  CounterStore(const Clock& clock, std::unique_ptr<sqlite::Database> db,
               std::chrono::milliseconds flush_interval, std::shared_ptr<spdlog::logger> log);

  Result<void> load();
  DayCount& touch(TokenMap<DayCount>& map, std::vector<CounterNode*>& dirty, std::string_view token,
                  LocalDay day);
  static void mark(DayCount& c, CounterNode& node, std::vector<CounterNode*>& dirty);
  void run();
  Result<void> write(const std::vector<CounterRow>& counters,
                     const std::vector<ParkingRow>& parking);
  void prune_locked(LocalDay today);

  const Clock& clock_;
  std::unique_ptr<sqlite::Database> db_;  // null: memory only
  const std::chrono::milliseconds flush_interval_;
  std::shared_ptr<spdlog::logger> log_;

  mutable std::mutex mu_;  // the maps and dirty lists
  TokenMap<DayCount> meals_;
  TokenMap<DayCount> bus_;
  TokenMap<TokenMap<ParkingSlot>> parking_;  // lot -> token -> entry
  // Nodes of the maps above changed since the last flush. Node addresses are stable in
  // unordered_map; nodes are erased only by the writer, after it has taken the list.
  std::vector<CounterNode*> dirty_meals_;
  std::vector<CounterNode*> dirty_bus_;
  std::vector<std::pair<const std::string*, ParkingNode*>> dirty_parking_;
  LocalDay pruned_day_ = 0;

  std::mutex write_mu_;  // one writer of the database at a time (thread and flush())
  Stats stats_;          // guarded by mu_
  std::mutex run_mu_;
  std::condition_variable run_cv_;
  bool stopping_ = false;
  bool closed_ = false;
  std::thread writer_;
};

}  // namespace yktgw
