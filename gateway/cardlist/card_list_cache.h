#pragma once
// The card list the gateway decides from: SQLite (card_list_store.h) as the source of truth,
// the compact index (card_index.h) for lookups, its image file (card_list_image.h) for a fast
// start. Lookups never wait for an update: the next index is merged beside the current one
// and the pointer swapped. A delta is merged from the verified feed and served before SQLite is
// touched; the transaction that stores it runs afterwards and is the only thing that advances
// the stored version, so a crash before its commit reloads the old version and the delta is
// fetched again.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "gateway/cardlist/attribute_names.h"
#include "gateway/cardlist/card_index.h"
#include "gateway/cardlist/card_list_store.h"
#include "gateway/cardlist/feed_format.h"
#include "gateway/core/result.h"
#include "gateway/interfaces/card_list.h"

namespace spdlog {
class logger;
}

namespace yktgw {

struct CardListOptions {
  std::string db_path;     // cardlist.db
  std::string image_path;  // the index image next to it; empty: no image
  AttributeNames groups;   // config cardlist.groups: the attribute bit order in memory
  // Config cardlist.max_age_s in ms: a list not known current for longer is stale. 0: only a
  // list that never arrived is stale.
  std::int64_t max_age_ms = 86'400'000;
};

// What the status page and the policies read about the list.
struct CardListStatus {
  std::int64_t version = 0;
  std::int64_t updated_ms = 0;  // the platform's time of the list (import time for CSV lists)
  std::int64_t checked_ms = 0;  // when the platform last answered "up to date" (gateway time)
  std::int64_t age_ms = 0;      // since the later of the two; 0 when never updated
  bool stale = true;
  bool from_feed = false;  // false: built from CSV imports
  std::string feed_id;     // the last applied feed
  std::uint64_t entries = 0;
  std::size_t memory_bytes = 0;
};

class CardListCache final : public CardList {
 public:
  // Opens the database and loads the list: from the image when it matches the database,
  // otherwise from SQLite (then writes a fresh image). `log` may be null.
  static Result<std::unique_ptr<CardListCache>> open(CardListOptions options,
                                                     std::shared_ptr<spdlog::logger> log);

  std::optional<CardEntry> find(std::string_view token) const override { return list_.find(token); }
  std::uint64_t size() const override { return list_.size(); }
  std::int64_t version() const override { return list_.version(); }
  std::int64_t updated_ms() const override { return list_.updated_ms(); }
  std::int64_t checked_ms() const override { return checked_ms_.load(std::memory_order_relaxed); }

  // age(now_ms, max_age_ms).stale: not known current for longer than max_age_ms, or never
  // arrived. Policies tighten offline limits then.
  bool stale(std::int64_t now_ms) const;
  CardListStatus status(std::int64_t now_ms) const;
  std::shared_ptr<const CardIndex> current() const { return list_.current(); }

  // Applies a decoded, signature-checked feed: version order (feed_version_gap,
  // feed_stale_snapshot), then one SQLite transaction. The new index serves as soon as it is
  // merged: a delta that follows the list in memory is merged from the feed and the index
  // alone, before the database is read or written (a 100 000-change delta into 30 million rows
  // takes seconds to store, the merge a fraction of one); a snapshot once its rows are known.
  // The groups the database then reads for the delta's prefixes correct the served index where
  // it guessed wrong (a new card sharing its first 64 bits with another listed card). If the
  // transaction fails the old list is put back. On any error the list in use is the old one.
  // Returns after the commit. Does not write the image (see save_image()).
  Result<void> apply(const Feed& feed);

  // Records that the platform confirmed the list current at `now_ms` (gateway wall time).
  Result<void> mark_checked(std::int64_t now_ms);

  // Re-reads the database if its list changed underneath (a CSV import followed by SIGHUP).
  // True when a new list was loaded.
  Result<bool> reload();

  // Writes the image of the list in use; after a round of feeds rather than after each,
  // since at 30 million entries it is 360 MiB.
  Result<void> save_image();

 private:
  CardListCache(CardListOptions options, CardListDb db, std::shared_ptr<spdlog::logger> log);
  Result<std::shared_ptr<const CardIndex>> load_from_db();
  Result<void> save_image_locked();

  const CardListOptions options_;
  std::shared_ptr<spdlog::logger> log_;
  IndexedCardList list_;
  std::atomic<std::int64_t> checked_ms_{0};
  std::mutex update_mu_;  // one writer at a time: feeds, reloads, the image, the database
  CardListDb db_;         // used under update_mu_ only
};

}  // namespace yktgw
