#pragma once
// The SQLite side of the card list (cardlist.db): every listed token in full with its status
// and attributes, the list's version, time and last applied feed. It is the source of truth;
// the in-memory index (card_index.h) and its image file (card_list_image.h) are built from it.
//
// Attributes are stored as bits. The database keeps its own table of group names
// (`card_group`: bit -> name, append-only), so stored bits keep their meaning whatever order
// the config lists the groups in; they are translated to the config's order when loaded.

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "gateway/cardlist/attribute_names.h"
#include "gateway/cardlist/card_index.h"
#include "gateway/cardlist/feed_format.h"
#include "gateway/core/result.h"
#include "gateway/crypto/card_tokenizer.h"
#include "gateway/interfaces/card_list.h"

namespace yktgw {

// Whether `feed` may follow the list described by `current`: a delta must start at the
// current version of a list that came from the feed (feed_version_gap otherwise); a snapshot
// may not be older than a feed list in use (feed_stale_snapshot). A list built from CSV
// imports has no platform version, so any snapshot may replace it.
Result<void> check_feed_sequence(const ListMeta& current, const FeedHeader& feed);

// Applies `run` (a delta's entries under `group.prefix`, ascending) to what the prefix holds,
// attribute bits translated by `feed_to_memory`: what the in-memory index needs to merge.
void apply_to_group(PrefixGroup& group, std::span<const FeedEntry> run,
                    const AttributeMap& feed_to_memory);

class CardListDb {
 public:
  static const std::vector<std::string_view>& migrations();

  // Opens (creating and migrating) the database at `path`. `names` are the groups in the
  // order the gateway uses in memory (config cardlist.groups); names the database has not
  // seen yet are added to its group table.
  static Result<CardListDb> open(const std::string& path, const AttributeNames& names);
  static Result<CardListDb> open(const std::string& path);  // with the default groups

  Result<ListMeta> meta() const;

  // Moves the write-ahead log into the database file and truncates it. Automatic checkpoints
  // are off so that none lands inside the commit a feed's index swap waits for; callers run
  // this afterwards (CardListCache does).
  Result<void> checkpoint();

  // When the platform last confirmed the list current (gateway wall time, UTC ms; 0: never).
  Result<std::int64_t> checked_ms() const;
  Result<void> set_checked_ms(std::int64_t now_ms);

  // The database's own group table (a superset of the names given to open()).
  const AttributeNames& stored_groups() const;

  // Every card, in token order, as an index with attribute bits in the order of open()'s names.
  Result<std::shared_ptr<const CardIndex>> load_index() const;

  struct ImportStats {
    std::uint64_t rows = 0;
    std::uint64_t upserted = 0;
    std::uint64_t rejected = 0;  // lines that could not be read; named in `first_errors`
    std::vector<std::string> first_errors;
    std::int64_t version = 0;
  };
  // Imports a CSV `card_no,status[,attributes[,masked]]` (status: active, lost, frozen, cancelled;
  // attributes: names separated by ';', e.g. `disabled;local;staff`). A `card_no` of the form
  // `token:<64 hex>` is taken as an already-computed token. A row with an attributes field
  // (even an empty one) sets the card's attributes; a row without keeps what the card had.
  // The whole file is applied in one transaction and bumps the list version by one. Refused
  // (code managed_by_feed) once the list comes from the platform's feed: a local version
  // would break the platform's version sequence.
  Result<ImportStats> import_csv(const std::string& csv_path, const CardTokenizer& tokenizer,
                                 std::int64_t now_ms);

  // Writes the whole list as CSV that import_csv reads back:
  // `card_no,status,attributes,masked` with `token:<64 hex>` as card_no (the list holds no card
  // numbers), preceded by `#` comment lines naming the version and the count. Returns the
  // number of cards written.
  Result<std::uint64_t> export_csv(std::ostream& out) const;

  struct Stats {
    std::int64_t version = 0;
    std::uint64_t total = 0;
    std::uint64_t by_status[4] = {0, 0, 0, 0};
  };
  Result<Stats> stats() const;

  // Applies a decoded feed in one transaction, after check_feed_sequence() against the stored
  // list. `ready` runs inside the transaction before any card row is written: for a delta it
  // gets what every 64-bit prefix the delta touches will hold afterwards (all tokens sharing
  // it, attribute bits in open()'s order), which is what the in-memory index needs to merge;
  // for a snapshot it gets nothing, the snapshot being the whole list. So the caller can serve
  // the new list while the rows are written. An error from `ready` rolls everything back; an
  // error after it means the database kept the old list and the caller must return to it.
  // `maybe_listed`, when given, says whether a prefix might be in the database (the index in
  // use knows); a delta's new cards under unlisted prefixes then need no query.
  using OnReady = std::function<Result<void>(std::vector<PrefixGroup>&& touched)>;
  using PrefixFilter = std::function<bool(std::uint64_t prefix)>;
  Result<void> apply_feed(const Feed& feed, const OnReady& ready,
                          const PrefixFilter& maybe_listed = {});

  CardListDb(CardListDb&&) noexcept;
  CardListDb& operator=(CardListDb&&) noexcept;
  ~CardListDb();

 private:
  struct Impl;
  explicit CardListDb(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace yktgw
