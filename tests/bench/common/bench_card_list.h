#pragma once
// The card list the in-process benchmarks decide from: the gateway's own CardListCache
// (cardlist.db in SQLite, the compact CardIndex in memory), filled by a snapshot feed as the
// platform's feed fills it. The cards a bench taps are listed among `total` entries in all, the
// rest random tokens (HMAC tokens are indistinguishable from random ones) with a district's
// mix of statuses, so lookups meet an index of a realistic size rather than a handful of
// entries that stay in the cache.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gateway/cardlist/attribute_names.h"
#include "gateway/cardlist/card_list_cache.h"
#include "gateway/cardlist/card_token.h"
#include "gateway/cardlist/feed_format.h"
#include "gateway/core/result.h"

namespace yktgw::bench {

struct ListedCard {
  std::string token;  // lower-case hex, as CardTokenizer::token() gives it
  CardEntry entry;
};

inline std::uint64_t splitmix64(std::uint64_t& s) {
  std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Opens a CardListCache on `dir`/cardlist.db (no image file) and applies one snapshot holding
// `cards` plus random entries up to `total`, created at `created_ms`. The groups are the
// default cardlist.groups ("staff,student,site_worker,resident").
inline Result<std::unique_ptr<CardListCache>> make_card_list(const std::string& dir,
                                                             const std::vector<ListedCard>& cards,
                                                             std::uint64_t total,
                                                             std::int64_t created_ms) {
  auto groups = AttributeNames::parse(kDefaultCardGroups);
  if (!groups) return groups.error();
  CardListOptions options;
  options.db_path = dir + "/cardlist.db";
  options.groups = groups.value();
  auto opened = CardListCache::open(options, nullptr);
  if (!opened) return opened.error();

  Feed feed;
  feed.header.kind = FeedKind::snapshot;
  feed.header.version = 1;
  feed.header.created_ms = created_ms;
  feed.header.groups = groups->groups();
  feed.id = std::string(64, 'b');
  feed.entries.reserve(std::max<std::uint64_t>(total, cards.size()));
  for (const ListedCard& c : cards) {
    const auto token = token_from_hex(c.token);
    if (!token) return make_error("bench_bad_token", "not a card token: " + c.token);
    feed.entries.push_back(FeedEntry{*token, FeedOp::upsert, c.entry.status, c.entry.attributes});
  }
  std::uint64_t seed = 20261129;
  while (feed.entries.size() < total) {
    FeedEntry e;
    for (std::size_t w = 0; w < 4; ++w) {
      const std::uint64_t v = splitmix64(seed);
      for (std::size_t i = 0; i < 8; ++i)
        e.token[8 * w + i] = static_cast<std::uint8_t>(v >> (8 * i));
    }
    // Mostly active, about 6 % lost, frozen or cancelled, a few attribute bits.
    const std::uint64_t r = splitmix64(seed);
    e.status = static_cast<CardStatus>((r % 100) < 94 ? 0 : 1 + (r % 3));
    e.attributes = static_cast<HolderAttributes>((r >> 8) & 0x3) |
                   (static_cast<HolderAttributes>((r >> 16) & 0xF) << kFirstGroupBit);
    feed.entries.push_back(e);
  }
  std::stable_sort(feed.entries.begin(), feed.entries.end(),
                   [](const FeedEntry& a, const FeedEntry& b) { return a.token < b.token; });
  // The bench's own cards first in the input, so a duplicate drops a random entry, not them.
  feed.entries.erase(
      std::unique(feed.entries.begin(), feed.entries.end(),
                  [](const FeedEntry& a, const FeedEntry& b) { return a.token == b.token; }),
      feed.entries.end());
  if (auto r = opened.value()->apply(feed); !r) return r.error();
  return std::move(opened.value());
}

}  // namespace yktgw::bench
