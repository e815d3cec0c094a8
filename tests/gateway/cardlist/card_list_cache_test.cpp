#include "gateway/cardlist/card_list_cache.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include "gateway/cardlist/card_list_image.h"
#include "gateway/store/sqlite_util.h"
#include "tests/gateway/cardlist/cardlist_test_util.h"

namespace yktgw {
namespace {

using namespace yktgw::testing;

constexpr HolderAttributes kStaff = 1u << kFirstGroupBit;
constexpr HolderAttributes kResident = 1u << (kFirstGroupBit + 3);

class CardListCacheTest : public ::testing::Test {
 protected:
  CardListOptions options(std::string groups = std::string(kDefaultCardGroups)) const {
    CardListOptions o;
    o.db_path = dir_.file("cardlist.db");
    o.image_path = dir_.file("cardlist.idx");
    o.groups = AttributeNames::parse(groups).value();
    o.max_age_ms = 3'600'000;
    return o;
  }

  std::unique_ptr<CardListCache> open(std::string groups = std::string(kDefaultCardGroups)) {
    auto c = CardListCache::open(options(std::move(groups)), nullptr);
    EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
    return c.ok() ? std::move(c).value() : nullptr;
  }

  Result<void> apply(CardListCache& cache, const std::string& bytes) {
    auto feed = decode_feed(bytes, platform_public_key());
    if (!feed) return feed.error();
    return cache.apply(*feed);
  }

  std::optional<CardEntry> find(const CardList& list, const TokenBytes& t) const {
    return list.find(token_to_hex(t));
  }

  TempDir dir_;
  std::mt19937_64 rng_{42};
};

TEST_F(CardListCacheTest, ANewListIsEmptyAndStale) {
  auto cache = open();
  ASSERT_TRUE(cache);
  EXPECT_EQ(cache->size(), 0u);
  EXPECT_EQ(cache->version(), 0);
  EXPECT_TRUE(cache->stale(1'700'000'000'000));
  const auto s = cache->status(1'700'000'000'000);
  EXPECT_FALSE(s.from_feed);
  EXPECT_EQ(s.age_ms, 0);
}

TEST_F(CardListCacheTest, AppliesASnapshotThenDeltas) {
  auto cache = open();
  const TokenBytes a = random_token(rng_), b = random_token(rng_), c = random_token(rng_);
  ASSERT_TRUE(
      apply(*cache,
            snapshot_bytes(10, {upsert(a, CardStatus::active, kStaff), upsert(b, CardStatus::lost)},
                           1'700'000'000'000))
          .ok());
  EXPECT_EQ(cache->version(), 10);
  EXPECT_EQ(cache->updated_ms(), 1'700'000'000'000);
  EXPECT_EQ(cache->size(), 2u);
  EXPECT_EQ(find(*cache, a), (CardEntry{CardStatus::active, kStaff}));
  EXPECT_EQ(find(*cache, b)->status, CardStatus::lost);

  ASSERT_TRUE(apply(*cache, delta_bytes(10,
                                        {upsert(a, CardStatus::frozen, kStaff | kAttrDisabled),
                                         removal(b), upsert(c, CardStatus::cancelled)},
                                        1'700'000'100'000))
                  .ok());
  EXPECT_EQ(cache->version(), 11);
  EXPECT_EQ(cache->updated_ms(), 1'700'000'100'000);
  EXPECT_EQ(find(*cache, a), (CardEntry{CardStatus::frozen, kStaff | kAttrDisabled}));
  EXPECT_FALSE(find(*cache, b).has_value());
  EXPECT_EQ(find(*cache, c)->status, CardStatus::cancelled);
  const auto s = cache->status(1'700'000'100'000 + 60'000);
  EXPECT_TRUE(s.from_feed);
  EXPECT_EQ(s.age_ms, 60'000);
  EXPECT_FALSE(s.stale);
  EXPECT_EQ(s.entries, 2u);
}

TEST_F(CardListCacheTest, RefusalsKeepTheOldListServing) {
  auto cache = open();
  const TokenBytes a = random_token(rng_);
  ASSERT_TRUE(apply(*cache, snapshot_bytes(10, {upsert(a, CardStatus::lost)})).ok());

  auto gap = apply(*cache, delta_bytes(11, {upsert(a, CardStatus::active)}));  // 11 -> 12
  ASSERT_FALSE(gap.ok());
  EXPECT_EQ(gap.error().code, "feed_version_gap");
  auto replay = apply(*cache, delta_bytes(9, {upsert(a, CardStatus::active)}));
  ASSERT_FALSE(replay.ok());
  EXPECT_EQ(replay.error().code, "feed_version_gap");
  auto old = apply(*cache, snapshot_bytes(9, {upsert(a, CardStatus::active)}));
  ASSERT_FALSE(old.ok());
  EXPECT_EQ(old.error().code, "feed_stale_snapshot");
  std::string tampered = delta_bytes(10, {upsert(a, CardStatus::active)});
  tampered[tampered.size() / 2] ^= 0x20;
  EXPECT_FALSE(apply(*cache, tampered).ok());

  EXPECT_EQ(cache->version(), 10);
  EXPECT_EQ(find(*cache, a)->status, CardStatus::lost);
  // And after a restart too: nothing refused reached the database.
  cache.reset();
  cache = open();
  EXPECT_EQ(cache->version(), 10);
  EXPECT_EQ(find(*cache, a)->status, CardStatus::lost);
}

TEST_F(CardListCacheTest, ADeltaCannotFollowAListFromCsvImports) {
  auto tok = CardTokenizer::create("0123456789abcdef").value();
  {
    auto db = CardListDb::open(dir_.file("cardlist.db"));
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->import_csv(dir_.write("a.csv", "12345678,lost\n"), tok, 5).ok());
  }
  auto cache = open();
  EXPECT_EQ(cache->version(), 1);
  auto r = apply(*cache, delta_bytes(1, {}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "feed_version_gap");
  // A snapshot replaces it, whatever its version.
  const TokenBytes a = random_token(rng_);
  ASSERT_TRUE(apply(*cache, snapshot_bytes(1, {upsert(a, CardStatus::frozen)})).ok());
  EXPECT_FALSE(cache->find(tok.token("12345678")).has_value());
  EXPECT_EQ(find(*cache, a)->status, CardStatus::frozen);
}

TEST_F(CardListCacheTest, CollidingTokensSurviveDeltas) {
  auto cache = open();
  const std::uint64_t p = 0xfedcba9876543210ULL;
  const TokenBytes x = token_with_prefix(p, 1), y = token_with_prefix(p, 2),
                   z = token_with_prefix(p, 3);
  ASSERT_TRUE(
      apply(*cache, snapshot_bytes(1, {upsert(x, CardStatus::lost), upsert(y, CardStatus::active)}))
          .ok());
  EXPECT_EQ(find(*cache, x)->status, CardStatus::lost);
  EXPECT_EQ(find(*cache, y)->status, CardStatus::active);
  EXPECT_FALSE(find(*cache, z).has_value());
  // The delta names only z; the index still must know x and y apart afterwards.
  ASSERT_TRUE(apply(*cache, delta_bytes(1, {upsert(z, CardStatus::frozen)})).ok());
  EXPECT_EQ(find(*cache, x)->status, CardStatus::lost);
  EXPECT_EQ(find(*cache, y)->status, CardStatus::active);
  EXPECT_EQ(find(*cache, z)->status, CardStatus::frozen);
  EXPECT_EQ(cache->size(), 3u);
  ASSERT_TRUE(apply(*cache, delta_bytes(2, {removal(x)})).ok());
  EXPECT_FALSE(find(*cache, x).has_value());
  EXPECT_EQ(find(*cache, y)->status, CardStatus::active);
  EXPECT_EQ(find(*cache, z)->status, CardStatus::frozen);
}

// Deltas through SQLite and the merge, checked against a std::map after each one.
TEST_F(CardListCacheTest, RandomDeltasMatchAMapOracle) {
  auto cache = open();
  std::map<TokenBytes, CardEntry> oracle;
  auto some_token = [&] {
    if (rng_() % 6 == 0) return token_with_prefix(0x7700000000000000ULL + rng_() % 8, rng_() % 3);
    return random_token(rng_);
  };
  auto some_entry = [&] {
    return CardEntry{static_cast<CardStatus>(rng_() % 4),
                     static_cast<HolderAttributes>(rng_() % 4) |
                         (static_cast<HolderAttributes>(rng_() % 16) << kFirstGroupBit)};
  };
  std::vector<FeedEntry> first;
  for (int i = 0; i < 500; ++i) {
    const TokenBytes t = some_token();
    if (oracle.contains(t)) continue;
    oracle[t] = some_entry();
    first.push_back(upsert(t, oracle[t].status, oracle[t].attributes));
  }
  ASSERT_TRUE(apply(*cache, snapshot_bytes(1, first)).ok());
  for (int v = 1; v <= 15; ++v) {
    std::map<TokenBytes, FeedEntry> changes;
    for (int k = 0; k < 60; ++k) {
      if (rng_() % 3 == 0 && !oracle.empty()) {
        auto it = oracle.begin();
        std::advance(it, static_cast<long>(rng_() % oracle.size()));
        changes[it->first] = removal(it->first);
      } else {
        const TokenBytes t = some_token();
        const CardEntry e = some_entry();
        changes[t] = upsert(t, e.status, e.attributes);
      }
    }
    std::vector<FeedEntry> entries;
    for (const auto& [t, e] : changes) {
      entries.push_back(e);
      if (e.op == FeedOp::remove) {
        oracle.erase(t);
      } else {
        oracle[t] = CardEntry{e.status, e.attributes};
      }
    }
    auto r = apply(*cache, delta_bytes(v, entries));
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(cache->size(), oracle.size());
    for (const auto& [t, e] : oracle) ASSERT_EQ(find(*cache, t), e) << token_to_hex(t);
    for (const auto& [t, e] : changes) {
      if (!oracle.contains(t)) {
        ASSERT_FALSE(find(*cache, t).has_value());
      }
    }
  }
  // What SQLite holds loads into the same list.
  cache.reset();
  std::filesystem::remove(dir_.file("cardlist.idx"));
  cache = open();
  ASSERT_EQ(cache->size(), oracle.size());
  for (const auto& [t, e] : oracle) ASSERT_EQ(find(*cache, t), e);
}

TEST_F(CardListCacheTest, PersistsAcrossReopenThroughImageAndSqlite) {
  const TokenBytes a = random_token(rng_), b = random_token(rng_);
  {
    auto cache = open();
    ASSERT_TRUE(apply(*cache, snapshot_bytes(3, {upsert(a, CardStatus::lost, kResident)})).ok());
    ASSERT_TRUE(apply(*cache, delta_bytes(3, {upsert(b, CardStatus::frozen)})).ok());
    ASSERT_TRUE(cache->mark_checked(1'700'000'500'000).ok());
    ASSERT_TRUE(cache->save_image().ok());
  }
  for (bool with_image : {true, false}) {
    if (!with_image) std::filesystem::remove(dir_.file("cardlist.idx"));
    auto cache = open();
    EXPECT_EQ(cache->version(), 4) << with_image;
    EXPECT_EQ(find(*cache, a), (CardEntry{CardStatus::lost, kResident})) << with_image;
    EXPECT_EQ(find(*cache, b)->status, CardStatus::frozen) << with_image;
    EXPECT_EQ(cache->status(0).checked_ms, 1'700'000'500'000);
    EXPECT_TRUE(cache->status(0).from_feed);
  }
  EXPECT_TRUE(std::filesystem::exists(dir_.file("cardlist.idx")));  // rewritten from SQLite
}

TEST_F(CardListCacheTest, ADamagedImageFallsBackToSqlite) {
  const TokenBytes a = random_token(rng_);
  {
    auto cache = open();
    ASSERT_TRUE(apply(*cache, snapshot_bytes(3, {upsert(a, CardStatus::lost)})).ok());
    ASSERT_TRUE(cache->save_image().ok());
  }
  const std::string good = dir_.read("cardlist.idx");
  ASSERT_FALSE(good.empty());
  const std::vector<std::string> damaged{
      good.substr(0, good.size() / 2),                         // cut short
      good + "x",                                              // too long
      std::string(good).replace(good.size() - 40, 1, "\x7f"),  // a flipped byte in the data
      std::string(good.size(), '\0'),                          // zeroed
      ""};
  for (std::size_t i = 0; i < damaged.size(); ++i) {
    dir_.write("cardlist.idx", damaged[i]);
    auto r = read_card_list_image(dir_.file("cardlist.idx"), options().groups);
    ASSERT_FALSE(r.ok()) << i;
    EXPECT_EQ(r.error().code, "image_corrupt") << i;
    auto cache = open();
    ASSERT_TRUE(cache) << i;
    EXPECT_EQ(cache->version(), 3) << i;
    EXPECT_EQ(find(*cache, a)->status, CardStatus::lost) << i;
    // The fallback wrote a good image again.
    EXPECT_TRUE(read_card_list_image(dir_.file("cardlist.idx"), options().groups).ok()) << i;
  }
}

TEST_F(CardListCacheTest, AnImageOfAnotherVersionIsNotUsed) {
  const TokenBytes a = random_token(rng_);
  {
    auto cache = open();
    ASSERT_TRUE(apply(*cache, snapshot_bytes(3, {upsert(a, CardStatus::lost)})).ok());
    ASSERT_TRUE(cache->save_image().ok());
    // The process dies after the commit but before the image is written.
    ASSERT_TRUE(apply(*cache, delta_bytes(3, {upsert(a, CardStatus::active)})).ok());
  }
  auto image = read_card_list_image(dir_.file("cardlist.idx"), options().groups);
  ASSERT_TRUE(image.ok());
  EXPECT_EQ((*image)->meta().version, 3);
  auto cache = open();
  EXPECT_EQ(cache->version(), 4);
  EXPECT_EQ(find(*cache, a)->status, CardStatus::active);
}

TEST_F(CardListCacheTest, AnImageWrittenWithAnotherGroupOrderIsTranslated) {
  const TokenBytes a = random_token(rng_);
  {
    auto cache = open("staff,student");
    ASSERT_TRUE(
        apply(*cache, snapshot_bytes(3, {upsert(a, CardStatus::active, kStaff)}, 1, {"staff"}))
            .ok());
    ASSERT_TRUE(cache->save_image().ok());
  }
  auto cache = open("student,staff");
  EXPECT_EQ(find(*cache, a)->attributes, 1u << (kFirstGroupBit + 1));  // staff is second now
}

TEST_F(CardListCacheTest, FeedGroupsMapByName) {
  auto cache = open("staff,student,site_worker,resident");
  const TokenBytes a = random_token(rng_), b = random_token(rng_);
  // The platform numbers its groups differently and knows one the gateway does not.
  ASSERT_TRUE(
      apply(*cache, snapshot_bytes(1,
                                   {upsert(a, CardStatus::active,
                                           (1u << kFirstGroupBit) | (1u << (kFirstGroupBit + 1))),
                                    upsert(b, CardStatus::active, 1u << (kFirstGroupBit + 2))},
                                   1, {"resident", "volunteer", "staff"}))
          .ok());
  EXPECT_EQ(find(*cache, a)->attributes, kResident);  // volunteer dropped in memory
  EXPECT_EQ(find(*cache, b)->attributes, kStaff);
  // ... but kept in SQLite, so a config that adds it later sees it.
  cache.reset();
  std::filesystem::remove(dir_.file("cardlist.idx"));
  cache = open("staff,student,site_worker,resident,volunteer");
  EXPECT_EQ(find(*cache, a)->attributes, kResident | (1u << (kFirstGroupBit + 4)));
}

TEST_F(CardListCacheTest, ReloadPicksUpACsvImport) {
  auto cache = open();
  auto tok = CardTokenizer::create("0123456789abcdef").value();
  EXPECT_EQ(cache->reload().value(), false);  // nothing changed
  auto db = CardListDb::open(dir_.file("cardlist.db"));
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE(db->import_csv(dir_.write("a.csv", "12345678,frozen,local\n"), tok, 77).ok());
  EXPECT_FALSE(cache->find(tok.token("12345678")).has_value());
  auto r = cache->reload();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(*r);
  EXPECT_EQ(cache->find(tok.token("12345678")),
            (CardEntry{CardStatus::frozen, kAttrLocalResident}));
  EXPECT_EQ(cache->updated_ms(), 77);
}

TEST_F(CardListCacheTest, AgeCountsFromTheLaterOfListTimeAndLastCheck) {
  auto cache = open();
  const std::int64_t t0 = 1'700'000'000'000;
  ASSERT_TRUE(apply(*cache, snapshot_bytes(1, {}, t0)).ok());
  EXPECT_FALSE(cache->stale(t0 + 3'600'000));
  EXPECT_TRUE(cache->stale(t0 + 3'600'001));
  // The platform answered "up to date" later: the list is as good as new.
  ASSERT_TRUE(cache->mark_checked(t0 + 3'000'000).ok());
  EXPECT_FALSE(cache->stale(t0 + 6'600'000));
  EXPECT_TRUE(cache->stale(t0 + 6'600'001));
  EXPECT_EQ(cache->status(t0 + 3'000'500).age_ms, 500);
  EXPECT_EQ(cache->status(t0 - 5).age_ms, 0);  // a clock behind the platform's
}

TEST_F(CardListCacheTest, ZeroMaxAgeMeansOnlyAMissingListIsStale) {
  auto o = options();
  o.max_age_ms = 0;
  auto cache = CardListCache::open(o, nullptr);
  ASSERT_TRUE(cache.ok());
  EXPECT_TRUE((*cache)->stale(5));
  ASSERT_TRUE(apply(**cache, snapshot_bytes(1, {}, 1)).ok());
  EXPECT_FALSE((*cache)->stale(1'000'000'000'000));
}

// The acceptance case in small: updates applied while lookups run give no wrong answer.
TEST_F(CardListCacheTest, LookupsDuringUpdatesNeverSeeAWrongAnswer) {
  auto cache = open();
  std::vector<FeedEntry> fixed;
  std::vector<std::string> lost_tokens;
  for (int i = 0; i < 2000; ++i) {
    const TokenBytes t = random_token(rng_);
    fixed.push_back(upsert(t, CardStatus::lost));
    lost_tokens.push_back(token_to_hex(t));
  }
  ASSERT_TRUE(apply(*cache, snapshot_bytes(1, fixed)).ok());
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> lookups{0}, wrong{0};
  std::thread reader([&] {
    std::size_t i = 0;
    while (!stop) {
      auto e = cache->find(lost_tokens[i++ % lost_tokens.size()]);
      if (!e || e->status != CardStatus::lost) ++wrong;
      ++lookups;
    }
  });
  for (int v = 1; v <= 30; ++v) {
    std::vector<FeedEntry> churn;
    for (int k = 0; k < 200; ++k) churn.push_back(upsert(random_token(rng_), CardStatus::frozen));
    ASSERT_TRUE(apply(*cache, delta_bytes(v, churn)).ok());
  }
  stop = true;
  reader.join();
  EXPECT_GT(lookups.load(), 0u);
  EXPECT_EQ(wrong.load(), 0u);
  EXPECT_EQ(cache->size(), 2000u + 30 * 200);
}

// The new list serves while its rows are written; if the write then fails, the old one returns.
TEST_F(CardListCacheTest, AFailedWriteAfterServingPutsTheOldListBack) {
  auto cache = open();
  const TokenBytes a = random_token(rng_), b = random_token(rng_);
  ASSERT_TRUE(apply(*cache, snapshot_bytes(1, {upsert(a, CardStatus::lost)})).ok());
  {
    auto raw = sqlite::Database::open(dir_.file("cardlist.db"), false);
    ASSERT_TRUE(raw.ok());
    ASSERT_TRUE(raw->exec("CREATE TRIGGER full_disk BEFORE INSERT ON card "
                          "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
                    .ok());
  }
  auto r =
      apply(*cache, delta_bytes(1, {upsert(a, CardStatus::active), upsert(b, CardStatus::frozen)}));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("disk is full"), std::string::npos);
  EXPECT_EQ(cache->version(), 1);
  EXPECT_EQ(find(*cache, a)->status, CardStatus::lost);
  EXPECT_FALSE(find(*cache, b).has_value());
  cache.reset();
  cache = open();
  EXPECT_EQ(cache->version(), 1);
  EXPECT_EQ(find(*cache, a)->status, CardStatus::lost);
}

// A delta is served from memory before SQLite is read. The index keeps one listed token per
// prefix by its first 64 bits, so a new card sharing them with a listed card is first taken for
// it; the database's groups must put both right before apply() returns.
TEST_F(CardListCacheTest, ANewCardSharingAListedPrefixIsCorrectedFromTheDatabase) {
  auto cache = open();
  const std::uint64_t p = 0x0123456789abcdefULL;
  const TokenBytes x = token_with_prefix(p, 1), y = token_with_prefix(p, 2);
  const TokenBytes other = random_token(rng_);
  ASSERT_TRUE(apply(*cache, snapshot_bytes(1, {upsert(x, CardStatus::lost),
                                               upsert(other, CardStatus::cancelled)}))
                  .ok());
  ASSERT_TRUE(apply(*cache, delta_bytes(1, {upsert(y, CardStatus::frozen)})).ok());
  EXPECT_EQ(cache->version(), 2);
  EXPECT_EQ(find(*cache, x)->status, CardStatus::lost);
  EXPECT_EQ(find(*cache, y)->status, CardStatus::frozen);
  EXPECT_EQ(find(*cache, other)->status, CardStatus::cancelled);
  EXPECT_EQ(cache->size(), 3u);

  // Removing a card that was never listed, under the prefix of one that is, leaves that one.
  const std::uint64_t q = 0x7654321076543210ULL;
  const TokenBytes listed = token_with_prefix(q, 7), never = token_with_prefix(q, 8);
  ASSERT_TRUE(apply(*cache, delta_bytes(2, {upsert(listed, CardStatus::lost)})).ok());
  ASSERT_TRUE(apply(*cache, delta_bytes(3, {removal(never)})).ok());
  EXPECT_EQ(cache->version(), 4);
  // (`never` itself now answers as `listed` does: one listed token under a prefix answers for
  // the whole prefix, the index's documented identity.)
  EXPECT_EQ(find(*cache, listed)->status, CardStatus::lost);
  EXPECT_EQ(cache->size(), 4u);

  // What memory holds is what the database holds.
  cache.reset();
  std::filesystem::remove(dir_.file("cardlist.idx"));
  cache = open();
  EXPECT_EQ(cache->version(), 4);
  EXPECT_EQ(find(*cache, x)->status, CardStatus::lost);
  EXPECT_EQ(find(*cache, y)->status, CardStatus::frozen);
  EXPECT_EQ(find(*cache, listed)->status, CardStatus::lost);
  EXPECT_EQ(cache->size(), 4u);
}

// The stored version advances only with the commit. A gateway killed while it already serves a
// delta from memory, but before that commit, restarts on the old version; the same delta then
// applies again.
TEST_F(CardListCacheTest, AKillAfterServingButBeforeTheCommitRestartsOnTheOldVersion) {
  const TokenBytes a = random_token(rng_), b = random_token(rng_);
  {
    auto cache = open();
    ASSERT_TRUE(apply(*cache, snapshot_bytes(1, {upsert(a, CardStatus::lost)})).ok());
  }
  const std::string delta =
      delta_bytes(1, {upsert(a, CardStatus::active), upsert(b, CardStatus::frozen)});
  const Feed feed = decoded(delta);
  const std::string served_marker = dir_.file("served");

  // Another writer holds the database, so the child's transaction waits after the swap.
  auto holder = sqlite::Database::open(dir_.file("cardlist.db"), false);
  ASSERT_TRUE(holder.ok());
  ASSERT_TRUE(holder->exec("BEGIN IMMEDIATE").ok());

  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto c = CardListCache::open(options(), nullptr);
    if (!c) ::_exit(2);
    auto& cache = *c.value();
    std::thread watch([&] {
      while (cache.version() != 2) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      if (cache.find(token_to_hex(b)) && cache.find(token_to_hex(a))->status == CardStatus::active)
        std::ofstream(served_marker) << "served\n";
    });
    (void)cache.apply(feed);  // waits on the holder's lock until killed
    watch.join();
    ::_exit(3);
  }
  bool served = false;
  for (int i = 0; i < 4000 && !served; ++i) {
    served = std::filesystem::exists(served_marker);
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(served) << "the child never served the delta before its commit";
  EXPECT_TRUE(WIFSIGNALED(status));
  ASSERT_TRUE(holder->exec("ROLLBACK").ok());

  auto cache = open();
  EXPECT_EQ(cache->version(), 1);
  EXPECT_EQ(find(*cache, a)->status, CardStatus::lost);
  EXPECT_FALSE(find(*cache, b).has_value());
  ASSERT_TRUE(cache->apply(feed).ok());
  EXPECT_EQ(cache->version(), 2);
  EXPECT_EQ(find(*cache, a)->status, CardStatus::active);
  EXPECT_EQ(find(*cache, b)->status, CardStatus::frozen);
  cache.reset();
  std::filesystem::remove(dir_.file("cardlist.idx"));
  cache = open();
  EXPECT_EQ(cache->version(), 2);
  EXPECT_EQ(find(*cache, b)->status, CardStatus::frozen);
}

}  // namespace
}  // namespace yktgw
