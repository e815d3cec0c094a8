#include "gateway/policy/counter_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "gateway/store/sqlite_util.h"
#include "tests/common/temp_dir.h"
#include "tests/gateway/policy/fakes.h"

namespace yktgw {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using testing::FakeClock;
using testing::shanghai_ms;
using testing::TempDir;

constexpr UtcMillis kNoon = shanghai_ms(2025, 6, 11, 12, 0);
const std::string kCard = std::string(64, 'a');
const std::string kOther = std::string(64, 'b');

std::unique_ptr<CounterStore> open_store(const std::string& path, const Clock& clock,
                                         std::chrono::milliseconds flush = 5ms) {
  auto s = CounterStore::open(CounterStore::Options{path, flush}, clock, nullptr);
  EXPECT_TRUE(s) << (s ? "" : s.error().message);
  return s ? std::move(s.value()) : nullptr;
}

// Reads a counter as another process would: from the file, not the store's memory.
std::int64_t rows_in(const std::string& path, const std::string& table) {
  auto db = sqlite::Database::open(path, false, true);
  if (!db) return -1;
  auto st = db->prepare("SELECT count(*) FROM " + table);
  if (!st || sqlite3_step(st->get()) != SQLITE_ROW) return -1;
  return sqlite3_column_int64(st->get(), 0);
}

TEST(CounterStore, MealCapIsPerCardAndDay) {
  FakeClock clock(kNoon);
  auto s = CounterStore::in_memory(clock);
  const LocalDay today = shanghai_day(kNoon);
  EXPECT_TRUE(s->try_add_meal(kCard, today, 2));
  EXPECT_TRUE(s->try_add_meal(kCard, today, 2));
  EXPECT_FALSE(s->try_add_meal(kCard, today, 2));
  EXPECT_EQ(s->meals(kCard, today), 2);
  EXPECT_TRUE(s->try_add_meal(kOther, today, 2));
  EXPECT_EQ(s->meals(kCard, today + 1), 0);
  EXPECT_TRUE(s->try_add_meal(kCard, today + 1, 2));
  EXPECT_EQ(s->meals(kCard, today + 1), 1) << "the newer day replaced the older";
  EXPECT_TRUE(s->try_add_meal(kCard, today + 1, 0)) << "0: no cap";
}

TEST(CounterStore, OfflineBusAmountsAndTaps) {
  FakeClock clock(kNoon);
  auto s = CounterStore::in_memory(clock);
  const LocalDay d = shanghai_day(kNoon);
  EXPECT_EQ(s->try_take_offline(kCard, d, 200, 500, 3), OfflineTake::taken);
  EXPECT_EQ(s->try_take_offline(kCard, d, 200, 500, 3), OfflineTake::taken);
  EXPECT_EQ(s->try_take_offline(kCard, d, 200, 500, 3), OfflineTake::daily_cap);
  EXPECT_EQ(s->try_take_offline(kCard, d, 100, 500, 3), OfflineTake::taken);
  EXPECT_EQ(s->try_take_offline(kCard, d, 0, 500, 3), OfflineTake::tap_cap);
  EXPECT_EQ(s->offline_use(kCard, d), (OfflineUse{500, 3}));
  s->online_contact(kCard, d);
  EXPECT_EQ(s->offline_use(kCard, d), (OfflineUse{500, 0})) << "the amount stays for the day";
  EXPECT_EQ(s->offline_use(kCard, d + 1), (OfflineUse{0, 0}));
}

// The wall clock steps back over midnight (NTP, a wrong manual setting): taps stamped with the
// earlier day count towards the day the counter already holds, so neither cap starts afresh,
// and the count is still there when the clock is right again.
TEST(CounterStore, AClockStepBackOverMidnightDoesNotResetADayCap) {
  FakeClock clock(kNoon);
  auto s = CounterStore::in_memory(clock);
  const LocalDay d = shanghai_day(kNoon);
  EXPECT_TRUE(s->try_add_meal(kCard, d, 2));
  EXPECT_EQ(s->meals(kCard, d - 1), 1) << "read on the earlier day, the later day's count holds";
  EXPECT_TRUE(s->try_add_meal(kCard, d - 1, 2));
  EXPECT_FALSE(s->try_add_meal(kCard, d - 1, 2));
  EXPECT_FALSE(s->try_add_meal(kCard, d, 2)) << "back on the right day, the cap is still used";
  EXPECT_EQ(s->meals(kCard, d), 2);
  EXPECT_TRUE(s->try_add_meal(kCard, d + 1, 2)) << "a later day still starts afresh";

  EXPECT_EQ(s->try_take_offline(kCard, d, 200, 500, 10), OfflineTake::taken);
  EXPECT_EQ(s->try_take_offline(kCard, d - 1, 200, 500, 10), OfflineTake::taken);
  EXPECT_EQ(s->try_take_offline(kCard, d - 1, 200, 500, 10), OfflineTake::daily_cap);
  EXPECT_EQ(s->offline_use(kCard, d), (OfflineUse{400, 2}));
  s->online_contact(kCard, d - 1);
  EXPECT_EQ(s->offline_use(kCard, d), (OfflineUse{400, 0})) << "an online answer still counts";
}

TEST(CounterStore, ParkingEntries) {
  FakeClock clock(kNoon);
  auto s = CounterStore::in_memory(clock);
  EXPECT_FALSE(s->parking_entry("p1", kCard));
  s->set_parking_entry("p1", kCard, kNoon);
  EXPECT_EQ(s->parking_entry("p1", kCard), kNoon);
  EXPECT_FALSE(s->parking_entry("p2", kCard));
  s->set_parking_entry("p1", kCard, kNoon + 5);
  EXPECT_EQ(s->parking_entry("p1", kCard), kNoon + 5);
  s->clear_parking_entry("p1", kCard);
  EXPECT_FALSE(s->parking_entry("p1", kCard));
}

TEST(CounterStore, SurvivesReopening) {
  TempDir dir;
  FakeClock clock(kNoon);
  const LocalDay d = shanghai_day(kNoon);
  {
    auto s = open_store(dir.file("state.db"), clock);
    ASSERT_TRUE(s);
    s->add_meal(kCard, d);
    EXPECT_EQ(s->try_take_offline(kCard, d, 300, 1000, 5), OfflineTake::taken);
    s->set_parking_entry("xiangkou-1", kCard, kNoon - 3600'000);
    s->set_parking_entry("xiangkou-1", kOther, kNoon - 60'000);
    s->clear_parking_entry("xiangkou-1", kOther);
  }  // closing writes what is pending
  {
    auto s = open_store(dir.file("state.db"), clock);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->meals(kCard, d), 1);
    EXPECT_EQ(s->offline_use(kCard, d), (OfflineUse{300, 1}));
    EXPECT_EQ(s->parking_entry("xiangkou-1", kCard), kNoon - 3600'000);
    EXPECT_FALSE(s->parking_entry("xiangkou-1", kOther));
    EXPECT_FALSE(s->try_add_meal(kCard, d, 1)) << "the cap holds across a restart";
  }
}

// The write-behind runs without being asked: another process sees the rows within a few
// intervals, which is the window a kill -9 can lose.
TEST(CounterStore, WritesBehindWithinAFewIntervals) {
  TempDir dir;
  FakeClock clock(kNoon);
  auto s = open_store(dir.file("state.db"), clock, 5ms);
  ASSERT_TRUE(s);
  s->add_meal(kCard, shanghai_day(kNoon));
  s->set_parking_entry("p1", kCard, kNoon);
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  while (std::chrono::steady_clock::now() < deadline &&
         (rows_in(dir.file("state.db"), "card_day_counter") < 1 ||
          rows_in(dir.file("state.db"), "parking_entry") < 1)) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(rows_in(dir.file("state.db"), "card_day_counter"), 1);
  EXPECT_EQ(rows_in(dir.file("state.db"), "parking_entry"), 1);
  EXPECT_GE(s->stats().flushes, 1u);
  s->clear_parking_entry("p1", kCard);
  ASSERT_TRUE(s->flush());
  EXPECT_EQ(rows_in(dir.file("state.db"), "parking_entry"), 0);
  EXPECT_EQ(s->stats().parking_entries, 0u) << "the deleted entry is gone from memory too";
}

TEST(CounterStore, PastDaysAreDroppedAtStartAndAtRollover) {
  TempDir dir;
  FakeClock clock(kNoon);
  const LocalDay d = shanghai_day(kNoon);
  {
    auto s = open_store(dir.file("state.db"), clock);
    s->add_meal(kCard, d);
    s->add_meal(kOther, d);
  }
  clock.set(testing::utc_ms(2025, 6, 11, 16, 0));  // midnight in Shanghai
  {
    auto s = open_store(dir.file("state.db"), clock);
    EXPECT_EQ(s->meals(kCard, d), 0) << "yesterday's meals were dropped at start";
    EXPECT_EQ(s->stats().meal_cards, 0u);
    EXPECT_EQ(rows_in(dir.file("state.db"), "card_day_counter"), 0);
    s->add_meal(kCard, d + 1);
    clock.advance(24LL * 3600 * 1000);
    ASSERT_TRUE(s->flush());  // the writer notices the new day
    EXPECT_EQ(s->stats().meal_cards, 0u);
    EXPECT_EQ(rows_in(dir.file("state.db"), "card_day_counter"), 0);
  }
}

TEST(CounterStore, RefusesANewerSchema) {
  TempDir dir;
  FakeClock clock(kNoon);
  {
    auto db = sqlite::Database::open(dir.file("state.db"), true);
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->exec("PRAGMA user_version = 99"));
  }
  auto s = CounterStore::open(CounterStore::Options{dir.file("state.db"), 5ms}, clock, nullptr);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, "schema_too_new");
}

TEST(CounterStore, CorruptFileIsAnErrorNotACrash) {
  TempDir dir;
  FakeClock clock(kNoon);
  {
    std::ofstream(dir.file("state.db"))
        << "this is not a database, but it is long enough to look like one";
  }
  auto s = CounterStore::open(CounterStore::Options{dir.file("state.db"), 5ms}, clock, nullptr);
  EXPECT_FALSE(s);
}

}  // namespace
}  // namespace yktgw
