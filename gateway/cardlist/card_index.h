#pragma once
// The in-memory card list: an immutable, compact index from card token to status and
// attributes, sized for a province (tens of millions of entries).
//
// Layout: two parallel arrays sorted by key, where the key is the token's first 64 bits and the
// value packs status and attributes into 32 bits (12 bytes per entry), plus a directory on the
// top bits of the key (at most 2^22 offsets, 16 MiB) so a lookup is one directory read and a
// search of a handful of neighbours. Two listed tokens that share their first 64 bits (about
// 2e-5 odds for 30 million HMAC tokens) keep their full tokens in a small side table, so they
// never answer for each other.
//
// An index never changes once built; an update builds a new one by merging (O(n)) and the
// holder swaps the pointer, so lookups run on without locks while an update is prepared. An
// update can also be served sooner as a layered index (layered()): the changed groups over the
// old index, built in O(changes), until the merged index replaces it.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/cardlist/card_token.h"
#include "gateway/core/result.h"
#include "gateway/interfaces/card_list.h"

namespace yktgw {

// Which list an index holds.
struct ListMeta {
  std::int64_t version = 0;
  std::int64_t updated_ms = 0;  // the platform's time for a feed, the import time for a CSV
  std::string feed_id;          // the last applied feed (hex SM3); empty: built from imports
  bool operator==(const ListMeta&) const = default;
};

// Attribute bits the 32-bit packed value can carry: the fixed bits 0-5 and the 24 group bits.
// Bits 6 and 7 are not defined and have no room.
inline constexpr HolderAttributes kStorableAttributes = 0x3Fu | 0xFFFFFF00u;

inline bool storable(HolderAttributes a) { return (a & ~kStorableAttributes) == 0; }

// status in bits 30-31, fixed attributes in 24-29, groups in 0-23.
inline std::uint32_t pack_entry(const CardEntry& e) {
  return (static_cast<std::uint32_t>(e.status) << 30) | ((e.attributes & 0x3Fu) << 24) |
         (e.attributes >> 8);
}

inline CardEntry unpack_entry(std::uint32_t v) {
  return CardEntry{static_cast<CardStatus>(v >> 30), ((v >> 24) & 0x3Fu) | ((v & 0xFFFFFFu) << 8)};
}

struct IndexedToken {
  TokenBytes token{};
  std::uint32_t packed = 0;
  bool operator==(const IndexedToken&) const = default;
};

// Every listed token that starts with `prefix`, in ascending order; empty when none is left.
// An update is a list of these for the prefixes it touched.
struct PrefixGroup {
  std::uint64_t prefix = 0;
  std::vector<IndexedToken> tokens;
  bool operator==(const PrefixGroup&) const = default;
};

class CardIndex {
 public:
  static std::shared_ptr<const CardIndex> empty(ListMeta meta = {});

  // Builds from parts that are already sorted (an image read back from disk); checks the order,
  // so a damaged file cannot produce an index that misses entries.
  static Result<std::shared_ptr<const CardIndex>> from_sorted(std::vector<std::uint64_t> keys,
                                                              std::vector<std::uint32_t> values,
                                                              std::vector<PrefixGroup> collisions,
                                                              ListMeta meta);

  CardIndex(const CardIndex&) = delete;
  CardIndex& operator=(const CardIndex&) = delete;

  // nullopt when the token is not listed (or is not 64 lower-case hex digits).
  std::optional<CardEntry> find(std::string_view token_hex) const;
  std::optional<CardEntry> find(const TokenBytes& token) const;

  // Whether some listed token starts with `prefix`.
  bool has_prefix(std::uint64_t prefix) const;

  // What the index knows of the tokens listed under `prefix`: none (nullopt); two or more, in
  // full (the side table's group); or one, of which only the prefix is kept (a group with one
  // token whose bytes past the prefix are zero, and `full` false).
  struct Listed {
    PrefixGroup group;
    bool full = true;
  };
  std::optional<Listed> listed(std::uint64_t prefix) const;

  std::uint64_t size() const { return size_; }
  const ListMeta& meta() const { return meta_; }
  int directory_bits() const { return dir_bits_; }
  // Heap bytes held (arrays, directory, side table), for the status page and the benchmark.
  std::size_t memory_bytes() const;

  // A new index: this one with each group of `changes` (ascending by prefix, one group per
  // prefix) replacing everything listed under its prefix. O(size + changes). Of a layered index:
  // the merged one.
  Result<std::shared_ptr<const CardIndex>> with_changes(std::span<const PrefixGroup> changes,
                                                        ListMeta meta) const;

  // An index that answers as base->with_changes(changes, meta) would, built in O(changes): the
  // groups sit over `base` (shared, not copied) and are searched first, behind a bitmap that
  // lets most lookups of untouched cards past with one read. For serving an update at once;
  // with_changes({}, meta) then merges it into a plain index. A layered `base` is flattened into
  // one layer.
  static Result<std::shared_ptr<const CardIndex>> layered(std::shared_ptr<const CardIndex> base,
                                                          std::vector<PrefixGroup> changes,
                                                          ListMeta meta);
  bool is_layered() const { return base_ != nullptr; }

  // The raw parts, for the image writer. Empty for a layered index (merge it first).
  std::span<const std::uint64_t> keys() const { return keys_; }
  std::span<const std::uint32_t> values() const { return values_; }
  std::span<const PrefixGroup> collisions() const { return collisions_; }

 private:
  CardIndex() = default;
  void finish();  // sizes and fills the directory, counts tokens
  const PrefixGroup* collision(std::uint64_t prefix) const;
  const PrefixGroup* layer_group(std::uint64_t prefix) const;  // nullptr: not in the layer
  std::uint64_t position(std::uint64_t key) const;             // first entry with a key >= `key`

  std::vector<std::uint64_t> keys_;
  std::vector<std::uint32_t> values_;
  std::vector<PrefixGroup> collisions_;  // ascending by prefix; each has at least two tokens
  std::vector<std::uint32_t> dir_;       // (1 << dir_bits_) + 1 offsets into keys_
  int dir_bits_ = 1;
  int shift_ = 63;
  std::uint64_t size_ = 0;
  ListMeta meta_;

  // Layered: base_ with layer_ over it (ascending by prefix, one group per prefix; an empty group
  // removes the prefix). layer_keys_ are their prefixes, layer_filter_ a bitmap on a hash of them.
  std::shared_ptr<const CardIndex> base_;
  std::vector<PrefixGroup> layer_;
  std::vector<std::uint64_t> layer_keys_;
  std::vector<std::uint64_t> layer_filter_;

  friend class CardIndexBuilder;
};

// Builds an index from tokens given in strictly ascending order (the order SQLite, the feed and
// the image keep them in), finding prefix collisions on the way.
class CardIndexBuilder {
 public:
  explicit CardIndexBuilder(std::size_t expected_entries = 0);

  // False when `token` does not come after the previous one; finish() then fails.
  bool add(const TokenBytes& token, std::uint32_t packed);

  Result<std::shared_ptr<const CardIndex>> finish(ListMeta meta);

 private:
  std::vector<std::uint64_t> keys_;
  std::vector<std::uint32_t> values_;
  std::vector<PrefixGroup> collisions_;
  TokenBytes last_{};
  bool have_last_ = false;
  bool out_of_order_ = false;
};

// The CardList a gateway serves lookups from: the current index behind an atomic pointer.
// Readers copy the pointer and never wait for a writer building the next index.
class IndexedCardList : public CardList {
 public:
  IndexedCardList() = default;

  std::optional<CardEntry> find(std::string_view token) const override {
    return current()->find(token);
  }
  std::uint64_t size() const override { return current()->size(); }
  std::int64_t version() const override { return current()->meta().version; }
  std::int64_t updated_ms() const override { return current()->meta().updated_ms; }

  std::shared_ptr<const CardIndex> current() const {
    return index_.load(std::memory_order_acquire);
  }
  void replace(std::shared_ptr<const CardIndex> next) {
    index_.store(std::move(next), std::memory_order_release);
  }

 private:
  std::atomic<std::shared_ptr<const CardIndex>> index_{CardIndex::empty()};
};

}  // namespace yktgw
