#include "gateway/cardlist/card_index.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <thread>

#include "tests/gateway/cardlist/cardlist_test_util.h"

namespace yktgw {
namespace {

using testing::random_token;
using testing::token_with_prefix;

std::uint32_t packed(CardStatus s, HolderAttributes a = 0) { return pack_entry(CardEntry{s, a}); }

std::shared_ptr<const CardIndex> build(const std::map<TokenBytes, std::uint32_t>& entries,
                                       ListMeta meta = {}) {
  CardIndexBuilder b(entries.size());
  for (const auto& [t, v] : entries) EXPECT_TRUE(b.add(t, v));
  auto index = b.finish(std::move(meta));
  EXPECT_TRUE(index.ok());
  return index.ok() ? index.value() : CardIndex::empty();
}

// The after-state of every prefix in `touched`, as the database would report it.
std::vector<PrefixGroup> groups_for(const std::map<TokenBytes, std::uint32_t>& oracle,
                                    const std::set<std::uint64_t>& touched) {
  std::vector<PrefixGroup> out;
  for (std::uint64_t prefix : touched) {
    PrefixGroup g{prefix, {}};
    for (auto it = oracle.lower_bound(token_with_prefix(prefix, 0));
         it != oracle.end() && token_prefix(it->first) == prefix; ++it) {
      g.tokens.push_back(IndexedToken{it->first, it->second});
    }
    out.push_back(std::move(g));
  }
  return out;
}

void expect_matches(const CardIndex& index, const std::map<TokenBytes, std::uint32_t>& oracle,
                    std::mt19937_64& rng) {
  ASSERT_EQ(index.size(), oracle.size());
  for (const auto& [t, v] : oracle) {
    auto e = index.find(t);
    ASSERT_TRUE(e.has_value()) << token_to_hex(t);
    EXPECT_EQ(pack_entry(*e), v) << token_to_hex(t);
    EXPECT_EQ(index.find(token_to_hex(t)), e);  // the hex form answers the same
  }
  for (int i = 0; i < 2000; ++i) {
    const TokenBytes t = random_token(rng);
    if (!oracle.contains(t)) {
      EXPECT_FALSE(index.find(t).has_value());
    }
  }
}

TEST(PackedEntry, RoundTripsEveryStatusAndStorableAttributes) {
  const HolderAttributes attrs[] = {0,     kAttrDisabled, kAttrLocalResident, 0x3F,
                                    0x100, 0xFFFFFF00u,   kStorableAttributes};
  for (auto s : {CardStatus::active, CardStatus::lost, CardStatus::frozen, CardStatus::cancelled}) {
    for (HolderAttributes a : attrs) {
      ASSERT_TRUE(storable(a));
      EXPECT_EQ(unpack_entry(pack_entry(CardEntry{s, a})), (CardEntry{s, a}));
    }
  }
  EXPECT_FALSE(storable(1u << 6));
  EXPECT_FALSE(storable(1u << 7));
}

TEST(CardIndex, EmptyFindsNothing) {
  auto index = CardIndex::empty(ListMeta{3, 1000, "f"});
  EXPECT_EQ(index->size(), 0u);
  EXPECT_EQ(index->meta().version, 3);
  std::mt19937_64 rng(1);
  EXPECT_FALSE(index->find(random_token(rng)).has_value());
}

TEST(CardIndex, OnlyLowerCaseHexTokensAreFound) {
  std::mt19937_64 rng(2);
  const TokenBytes t = random_token(rng);
  auto index = build({{t, packed(CardStatus::lost)}});
  std::string hex = token_to_hex(t);
  EXPECT_EQ(index->find(hex)->status, CardStatus::lost);
  std::string upper = hex;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper != hex) {
    EXPECT_FALSE(index->find(upper).has_value());
  }
  EXPECT_FALSE(index->find(hex.substr(0, 63)).has_value());
  EXPECT_FALSE(index->find(hex + "0").has_value());
  hex[40] = 'g';  // beyond the 64-bit key, still checked
  EXPECT_FALSE(index->find(hex).has_value());
}

TEST(CardIndex, BuilderRefusesTokensOutOfOrder) {
  CardIndexBuilder b;
  EXPECT_TRUE(b.add(token_with_prefix(5, 0), 0));
  EXPECT_FALSE(b.add(token_with_prefix(4, 0), 0));
  auto index = b.finish({});
  ASSERT_FALSE(index.ok());
  EXPECT_EQ(index.error().code, "unsorted");

  CardIndexBuilder dup;
  EXPECT_TRUE(dup.add(token_with_prefix(5, 0), 0));
  EXPECT_FALSE(dup.add(token_with_prefix(5, 0), 0));  // the same token twice
  EXPECT_FALSE(dup.finish({}).ok());
}

TEST(CardIndex, TokensSharingA64BitPrefixKeepTheirOwnEntries) {
  const std::uint64_t p = 0x0123456789abcdefULL;
  const TokenBytes a = token_with_prefix(p, 1);
  const TokenBytes b = token_with_prefix(p, 2);
  const TokenBytes c = token_with_prefix(p, 3);  // same prefix, not listed
  const TokenBytes neighbour = token_with_prefix(p + 1, 1);
  auto index = build({{a, packed(CardStatus::lost)},
                      {b, packed(CardStatus::active, kAttrDisabled)},
                      {neighbour, packed(CardStatus::frozen)}});
  EXPECT_EQ(index->size(), 3u);
  ASSERT_EQ(index->collisions().size(), 1u);
  EXPECT_EQ(index->keys().size(), 2u);
  EXPECT_EQ(index->find(a), (CardEntry{CardStatus::lost, 0}));
  EXPECT_EQ(index->find(b), (CardEntry{CardStatus::active, kAttrDisabled}));
  EXPECT_FALSE(index->find(c).has_value());  // never the answer of a or b
  EXPECT_EQ(index->find(neighbour)->status, CardStatus::frozen);
  EXPECT_TRUE(index->has_prefix(p));

  // Deleting one leaves the other as a plain entry.
  std::vector<PrefixGroup> change{{p, {IndexedToken{b, packed(CardStatus::cancelled)}}}};
  auto next = index->with_changes(change, ListMeta{2, 0, "x"});
  ASSERT_TRUE(next.ok());
  EXPECT_EQ((*next)->size(), 2u);
  EXPECT_TRUE((*next)->collisions().empty());
  EXPECT_EQ((*next)->find(b)->status, CardStatus::cancelled);
  EXPECT_EQ((*next)->meta().version, 2);
  // Only listed tokens are told apart: an unlisted token sharing the prefix of the single
  // listed one gets its answer, as the index keys on 64 bits (odds about 1.6e-12 a lookup at
  // 30 million HMAC tokens; docs/cardlist-feed.md). That includes the deleted a.
  EXPECT_EQ((*next)->find(a)->status, CardStatus::cancelled);
  EXPECT_EQ((*next)->find(c)->status, CardStatus::cancelled);

  // And adding a colliding token to a plain entry turns it into a collision again.
  std::vector<PrefixGroup> again{{p,
                                  {IndexedToken{b, packed(CardStatus::cancelled)},
                                   IndexedToken{c, packed(CardStatus::lost)}}}};
  auto third = (*next)->with_changes(again, ListMeta{3, 0, "y"});
  ASSERT_TRUE(third.ok());
  EXPECT_EQ((*third)->size(), 3u);
  EXPECT_EQ((*third)->find(c)->status, CardStatus::lost);
  EXPECT_EQ((*third)->find(b)->status, CardStatus::cancelled);
  EXPECT_FALSE((*third)->find(a).has_value());
}

TEST(CardIndex, DeltaUpsertsDeletesAndChangesStatus) {
  std::mt19937_64 rng(3);
  std::map<TokenBytes, std::uint32_t> oracle;
  for (int i = 0; i < 100; ++i) oracle[random_token(rng)] = packed(CardStatus::active);
  auto index = build(oracle, ListMeta{1, 10, "a"});
  auto it = oracle.begin();
  const TokenBytes changed = (it++)->first;
  const TokenBytes removed = (it++)->first;
  const TokenBytes added = random_token(rng);
  oracle[changed] = packed(CardStatus::lost, kAttrLocalResident | (1u << kFirstGroupBit));
  oracle.erase(removed);
  oracle[added] = packed(CardStatus::frozen);
  auto next = index->with_changes(
      groups_for(oracle, {token_prefix(changed), token_prefix(removed), token_prefix(added)}),
      ListMeta{2, 20, "b"});
  ASSERT_TRUE(next.ok());
  expect_matches(**next, oracle, rng);
  EXPECT_EQ((*next)->find(changed),
            (CardEntry{CardStatus::lost, kAttrLocalResident | (1u << kFirstGroupBit)}));
  EXPECT_EQ((*next)->meta(), (ListMeta{2, 20, "b"}));
  // The old index is untouched: readers holding it see the old list.
  EXPECT_EQ(index->find(changed)->status, CardStatus::active);
  EXPECT_TRUE(index->find(removed).has_value());
  EXPECT_FALSE(index->find(added).has_value());
}

TEST(CardIndex, RefusesChangesOutOfOrder) {
  auto index = CardIndex::empty();
  std::vector<PrefixGroup> changes{{5, {}}, {4, {}}};
  EXPECT_FALSE(index->with_changes(changes, {}).ok());
  std::vector<PrefixGroup> wrong_prefix{{5, {IndexedToken{token_with_prefix(6, 0), 0}}}};
  EXPECT_FALSE(index->with_changes(wrong_prefix, {}).ok());
}

// Random upserts, status changes and deletes against a std::map, with a small prefix space
// mixed in so that collisions come and go.
TEST(CardIndex, MatchesAMapOracleUnderRandomOperations) {
  std::mt19937_64 rng(20240611);
  std::map<TokenBytes, std::uint32_t> oracle;
  auto some_token = [&] {
    if (rng() % 8 == 0) return token_with_prefix(0x5000000000000000ULL + rng() % 16, rng() % 4);
    return random_token(rng);
  };
  auto some_value = [&] {
    return packed(static_cast<CardStatus>(rng() % 4),
                  static_cast<HolderAttributes>(rng()) & kStorableAttributes);
  };
  for (int i = 0; i < 3000; ++i) oracle[some_token()] = some_value();
  auto index = build(oracle);
  expect_matches(*index, oracle, rng);
  for (int round = 0; round < 40; ++round) {
    std::set<std::uint64_t> touched;
    const int ops = 1 + static_cast<int>(rng() % 300);
    for (int k = 0; k < ops; ++k) {
      const int what = static_cast<int>(rng() % 4);
      if (what == 0 || oracle.empty()) {  // new card
        const TokenBytes t = some_token();
        oracle[t] = some_value();
        touched.insert(token_prefix(t));
      } else {
        auto it = oracle.begin();
        std::advance(it, static_cast<long>(rng() % oracle.size()));
        touched.insert(token_prefix(it->first));
        if (what == 1) {
          oracle.erase(it);
        } else {
          it->second = some_value();
        }
      }
    }
    if (rng() % 5 == 0) touched.insert(rng());  // a delete of a card that was never listed
    auto next = index->with_changes(groups_for(oracle, touched), ListMeta{round + 1, 0, "r"});
    ASSERT_TRUE(next.ok()) << next.error().message;
    index = *next;
    expect_matches(*index, oracle, rng);
  }
  EXPECT_FALSE(index->collisions().empty());
}

// A layered index answers exactly as the merged one would, also layered over a layered one,
// and merges into the same plain index.
TEST(CardIndex, LayeredAnswersAsTheMergedIndexDoes) {
  std::mt19937_64 rng(77);
  std::map<TokenBytes, std::uint32_t> oracle;
  auto some_token = [&] {
    if (rng() % 6 == 0) return token_with_prefix(0x6000000000000000ULL + rng() % 12, rng() % 4);
    return random_token(rng);
  };
  for (int i = 0; i < 3000; ++i) oracle[some_token()] = packed(CardStatus::lost);
  auto base = build(oracle, ListMeta{1, 0, "a"});
  std::shared_ptr<const CardIndex> index = base;
  for (int round = 0; round < 6; ++round) {
    std::set<std::uint64_t> touched;
    for (int k = 0; k < 200; ++k) {
      if (rng() % 3 == 0) {
        const TokenBytes t = some_token();
        oracle[t] = packed(CardStatus::frozen, kFirstGroupBit << 1);
        touched.insert(token_prefix(t));
      } else {
        auto it = oracle.begin();
        std::advance(it, static_cast<long>(rng() % oracle.size()));
        touched.insert(token_prefix(it->first));
        if (rng() % 2 == 0) {
          oracle.erase(it);
        } else {
          it->second = packed(CardStatus::cancelled);
        }
      }
    }
    touched.insert(rng());  // a removal of a prefix never listed
    const ListMeta meta{round + 2, 0, "r"};
    auto layered = CardIndex::layered(index, groups_for(oracle, touched), meta);
    ASSERT_TRUE(layered.ok()) << layered.error().message;
    EXPECT_TRUE((*layered)->is_layered());
    EXPECT_EQ((*layered)->meta(), meta);
    EXPECT_TRUE((*layered)->keys().empty());
    expect_matches(**layered, oracle, rng);
    for (std::uint64_t p : touched) {
      bool listed = false;
      for (auto it = oracle.lower_bound(token_with_prefix(p, 0));
           it != oracle.end() && token_prefix(it->first) == p; ++it) {
        listed = true;
      }
      EXPECT_EQ((*layered)->has_prefix(p), listed);
      EXPECT_EQ((*layered)->listed(p).has_value(), listed);
    }
    // Every other round stays layered, so the next layers over a layered index.
    if (round % 2 == 1) {
      auto merged = (*layered)->with_changes({}, meta);
      ASSERT_TRUE(merged.ok()) << merged.error().message;
      EXPECT_FALSE((*merged)->is_layered());
      expect_matches(**merged, oracle, rng);
      index = *merged;
    } else {
      index = *layered;
    }
  }
  EXPECT_FALSE(CardIndex::layered(base, {PrefixGroup{2, {}}, PrefixGroup{1, {}}}, {}).ok());
}

TEST(CardIndex, FromSortedChecksTheParts) {
  auto ok = CardIndex::from_sorted({1, 2, 3}, {0, 0, 0}, {}, {});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ((*ok)->size(), 3u);
  EXPECT_EQ(CardIndex::from_sorted({1, 3, 2}, {0, 0, 0}, {}, {}).error().code, "index_corrupt");
  EXPECT_EQ(CardIndex::from_sorted({1, 1}, {0, 0}, {}, {}).error().code, "index_corrupt");
  EXPECT_EQ(CardIndex::from_sorted({1}, {0, 0}, {}, {}).error().code, "index_corrupt");
  // A collision group must have its key and at least two tokens of its prefix.
  std::vector<PrefixGroup> lonely{
      {7, {IndexedToken{token_with_prefix(7, 1), 0}, IndexedToken{token_with_prefix(7, 2), 0}}}};
  EXPECT_EQ(CardIndex::from_sorted({1}, {0}, lonely, {}).error().code, "index_corrupt");
  std::vector<PrefixGroup> single{{1, {IndexedToken{token_with_prefix(1, 1), 0}}}};
  EXPECT_EQ(CardIndex::from_sorted({1}, {0}, single, {}).error().code, "index_corrupt");
}

TEST(CardIndex, MemoryIsTwelveBytesAnEntryPlusTheDirectory) {
  std::mt19937_64 rng(4);
  std::map<TokenBytes, std::uint32_t> oracle;
  for (int i = 0; i < 100'000; ++i) oracle[random_token(rng)] = 0;
  auto index = build(oracle);
  const std::size_t directory = ((std::size_t{1} << index->directory_bits()) + 1) * 4;
  EXPECT_LE(index->memory_bytes(), 12 * 100'000 * 2 + directory);  // vector growth slack
  EXPECT_LE(directory, 4 * 100'000u);
}

TEST(IndexedCardList, ReadersSeeOneWholeListOrTheOther) {
  std::mt19937_64 rng(5);
  const TokenBytes steady = random_token(rng);
  const TokenBytes moving = random_token(rng);
  auto a = build({{steady, packed(CardStatus::active)}, {moving, packed(CardStatus::lost)}},
                 ListMeta{1, 0, "a"});
  auto b = build({{steady, packed(CardStatus::active)}, {moving, packed(CardStatus::frozen)}},
                 ListMeta{2, 0, "b"});
  IndexedCardList list;
  list.replace(a);
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0};
  std::thread reader([&] {
    const std::string s = token_to_hex(steady);
    const std::string m = token_to_hex(moving);
    while (!stop) {
      auto snap = list.current();
      auto e = snap->find(m);
      const bool consistent = e && ((snap->meta().version == 1 && e->status == CardStatus::lost) ||
                                    (snap->meta().version == 2 && e->status == CardStatus::frozen));
      if (!consistent || !list.find(s)) ++wrong;
    }
  });
  for (int i = 0; i < 20'000; ++i) list.replace(i % 2 ? a : b);
  stop = true;
  reader.join();
  EXPECT_EQ(wrong, 0);
}

}  // namespace
}  // namespace yktgw
