#include "gateway/cardlist/card_index.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <new>

namespace yktgw {
namespace {

// Enough directory slots for about four entries each, capped at 2^22 (16 MiB): past that the
// fixed base would outweigh the few nanoseconds a shorter scan saves.
int directory_bits_for(std::size_t n) {
  const int bits = static_cast<int>(std::bit_width(n)) - 2;
  return std::clamp(bits, 1, 22);
}

bool token_less(const TokenBytes& a, const TokenBytes& b) {
  return std::memcmp(a.data(), b.data(), a.size()) < 0;
}

// The layer's filter: 2^22 bits (512 KiB, within L2), so with 100 000 changed prefixes about
// 97 lookups in 100 of untouched cards skip the layer's search.
constexpr int kFilterBits = 22;

std::size_t filter_bit(std::uint64_t prefix) {
  return static_cast<std::size_t>((prefix * 0x9E3779B97F4A7C15ULL) >> (64 - kFilterBits));
}

// `later` over `earlier`, both ascending by prefix with one group per prefix: for a prefix in
// both, the later group.
std::vector<PrefixGroup> overlay(std::span<const PrefixGroup> earlier,
                                 std::span<const PrefixGroup> later) {
  std::vector<PrefixGroup> out;
  out.reserve(earlier.size() + later.size());
  std::size_t i = 0;
  for (const auto& g : later) {
    while (i < earlier.size() && earlier[i].prefix < g.prefix) out.push_back(earlier[i++]);
    if (i < earlier.size() && earlier[i].prefix == g.prefix) ++i;
    out.push_back(g);
  }
  while (i < earlier.size()) out.push_back(earlier[i++]);
  return out;
}

Result<void> check_changes(std::span<const PrefixGroup> changes) {
  for (std::size_t i = 0; i < changes.size(); ++i) {
    const auto& g = changes[i];
    if (i > 0 && changes[i - 1].prefix >= g.prefix) {
      return make_error("bad_changes", "change groups must be ascending by prefix, one per prefix");
    }
    for (std::size_t j = 0; j < g.tokens.size(); ++j) {
      if (token_prefix(g.tokens[j].token) != g.prefix ||
          (j > 0 && !token_less(g.tokens[j - 1].token, g.tokens[j].token))) {
        return make_error("bad_changes",
                          "tokens of a change group must share its prefix, ascending");
      }
    }
  }
  return {};
}

// Offsets are 32-bit to keep the directory small; four billion entries is far beyond a province.
constexpr std::size_t kMaxEntries = std::numeric_limits<std::uint32_t>::max() - 1;

}  // namespace

std::shared_ptr<const CardIndex> CardIndex::empty(ListMeta meta) {
  std::shared_ptr<CardIndex> index(new CardIndex());
  index->meta_ = std::move(meta);
  index->finish();
  return index;
}

void CardIndex::finish() {
  dir_bits_ = directory_bits_for(keys_.size());
  shift_ = 64 - dir_bits_;
  const std::size_t slots = std::size_t{1} << dir_bits_;
  dir_.assign(slots + 1, 0);
  std::size_t i = 0;
  for (std::size_t b = 0; b < slots; ++b) {
    dir_[b] = static_cast<std::uint32_t>(i);
    while (i < keys_.size() && (keys_[i] >> shift_) == b) ++i;
  }
  dir_[slots] = static_cast<std::uint32_t>(keys_.size());
  size_ = keys_.size();
  for (const auto& g : collisions_) size_ += g.tokens.size() - 1;
}

std::uint64_t CardIndex::position(std::uint64_t key) const {
  const std::size_t b = static_cast<std::size_t>(key >> shift_);
  std::uint32_t lo = dir_[b];
  const std::uint32_t hi = dir_[b + 1];
  // The value sits next to `lo` too: fetching it alongside the keys saves one memory round trip
  // of the three a lookup in a few hundred MiB otherwise makes one after the other.
  __builtin_prefetch(values_.data() + lo);
  if (hi - lo > 16) {
    return static_cast<std::uint64_t>(std::lower_bound(keys_.data() + lo, keys_.data() + hi, key) -
                                      keys_.data());
  }
  while (lo < hi && keys_[lo] < key) ++lo;
  return lo;
}

const PrefixGroup* CardIndex::collision(std::uint64_t prefix) const {
  auto it = std::lower_bound(collisions_.begin(), collisions_.end(), prefix,
                             [](const PrefixGroup& g, std::uint64_t p) { return g.prefix < p; });
  return it != collisions_.end() && it->prefix == prefix ? &*it : nullptr;
}

const PrefixGroup* CardIndex::layer_group(std::uint64_t prefix) const {
  const std::size_t bit = filter_bit(prefix);
  if ((layer_filter_[bit >> 6] & (std::uint64_t{1} << (bit & 63))) == 0) return nullptr;
  const auto it = std::lower_bound(layer_keys_.begin(), layer_keys_.end(), prefix);
  if (it == layer_keys_.end() || *it != prefix) return nullptr;
  return &layer_[static_cast<std::size_t>(it - layer_keys_.begin())];
}

std::optional<CardEntry> CardIndex::find(std::string_view token_hex) const {
  if (token_hex.size() != kTokenHexLength) return std::nullopt;
  const CardIndex& flat = base_ ? *base_ : *this;
  // Start the directory read from the first 16 digits, so it overlaps checking the other 48.
  std::uint64_t key = 0;
  for (std::size_t i = 0; i < 16; ++i) {
    key = (key << 4) | static_cast<std::uint64_t>(
                           detail::kHexValue[static_cast<unsigned char>(token_hex[i])] & 0xF);
  }
  __builtin_prefetch(flat.dir_.data() + (key >> flat.shift_));
  auto token = token_from_hex(token_hex);
  if (!token) return std::nullopt;
  return find(*token);
}

std::optional<CardEntry> CardIndex::find(const TokenBytes& token) const {
  const std::uint64_t key = token_prefix(token);
  if (base_) {
    const PrefixGroup* g = layer_group(key);
    if (g == nullptr) return base_->find(token);
    // As the merged index would answer: one token answers for its prefix, several by identity.
    if (g->tokens.size() == 1) return unpack_entry(g->tokens.front().packed);
    for (const auto& t : g->tokens)
      if (t.token == token) return unpack_entry(t.packed);
    return std::nullopt;
  }
  const std::uint64_t at = position(key);
  if (at >= keys_.size() || keys_[at] != key) return std::nullopt;
  // Almost always empty, so a hit costs one well-predicted branch more.
  if (!collisions_.empty()) {
    if (const PrefixGroup* g = collision(key)) {
      for (const auto& t : g->tokens)
        if (t.token == token) return unpack_entry(t.packed);
      return std::nullopt;
    }
  }
  return unpack_entry(values_[at]);
}

bool CardIndex::has_prefix(std::uint64_t prefix) const {
  if (base_) {
    const PrefixGroup* g = layer_group(prefix);
    return g != nullptr ? !g->tokens.empty() : base_->has_prefix(prefix);
  }
  const std::uint64_t at = position(prefix);
  return at < keys_.size() && keys_[at] == prefix;
}

std::optional<CardIndex::Listed> CardIndex::listed(std::uint64_t prefix) const {
  if (base_) {
    const PrefixGroup* g = layer_group(prefix);
    if (g == nullptr) return base_->listed(prefix);
    if (g->tokens.empty()) return std::nullopt;
    return Listed{*g, true};
  }
  const std::uint64_t at = position(prefix);
  if (at >= keys_.size() || keys_[at] != prefix) return std::nullopt;
  if (const PrefixGroup* g = collision(prefix)) return Listed{*g, true};
  TokenBytes token{};
  for (int i = 0; i < 8; ++i) token[i] = static_cast<std::uint8_t>(prefix >> (56 - 8 * i));
  return Listed{PrefixGroup{prefix, {IndexedToken{token, values_[at]}}}, false};
}

std::size_t CardIndex::memory_bytes() const {
  std::size_t bytes =
      keys_.capacity() * sizeof(std::uint64_t) + values_.capacity() * sizeof(std::uint32_t) +
      dir_.capacity() * sizeof(std::uint32_t) + collisions_.capacity() * sizeof(PrefixGroup);
  for (const auto& g : collisions_) bytes += g.tokens.capacity() * sizeof(IndexedToken);
  if (base_) {
    bytes += base_->memory_bytes() + layer_.capacity() * sizeof(PrefixGroup) +
             layer_keys_.capacity() * sizeof(std::uint64_t) +
             layer_filter_.capacity() * sizeof(std::uint64_t);
    for (const auto& g : layer_) bytes += g.tokens.capacity() * sizeof(IndexedToken);
  }
  return bytes;
}

Result<std::shared_ptr<const CardIndex>> CardIndex::from_sorted(std::vector<std::uint64_t> keys,
                                                                std::vector<std::uint32_t> values,
                                                                std::vector<PrefixGroup> collisions,
                                                                ListMeta meta) {
  if (keys.size() != values.size()) {
    return make_error("index_corrupt", "key and value counts differ");
  }
  if (keys.size() > kMaxEntries) return make_error("index_too_large", "too many entries");
  for (std::size_t i = 1; i < keys.size(); ++i) {
    if (keys[i - 1] >= keys[i]) return make_error("index_corrupt", "keys out of order");
  }
  std::shared_ptr<CardIndex> index(new (std::nothrow) CardIndex());
  if (!index) return make_error("out_of_memory", "cannot allocate the card index");
  for (std::size_t i = 0; i < collisions.size(); ++i) {
    const auto& g = collisions[i];
    if (g.tokens.size() < 2 || (i > 0 && collisions[i - 1].prefix >= g.prefix)) {
      return make_error("index_corrupt", "collision table out of order");
    }
    for (std::size_t j = 0; j < g.tokens.size(); ++j) {
      if (token_prefix(g.tokens[j].token) != g.prefix ||
          (j > 0 && !token_less(g.tokens[j - 1].token, g.tokens[j].token))) {
        return make_error("index_corrupt", "collision table out of order");
      }
    }
  }
  for (const auto& g : collisions) {
    if (!std::binary_search(keys.begin(), keys.end(), g.prefix))
      return make_error("index_corrupt", "collision without its key");
  }
  index->keys_ = std::move(keys);
  index->values_ = std::move(values);
  index->collisions_ = std::move(collisions);
  index->meta_ = std::move(meta);
  index->finish();
  return std::shared_ptr<const CardIndex>(std::move(index));
}

Result<std::shared_ptr<const CardIndex>> CardIndex::layered(std::shared_ptr<const CardIndex> base,
                                                            std::vector<PrefixGroup> changes,
                                                            ListMeta meta) {
  if (!base) return make_error("bad_changes", "a layered index needs a base");
  if (auto r = check_changes(changes); !r) return r.error();
  try {
    if (base->base_) {
      changes = overlay(base->layer_, changes);
      base = base->base_;
    }
    std::shared_ptr<CardIndex> index(new CardIndex());
    std::int64_t size = static_cast<std::int64_t>(base->size());
    index->layer_keys_.reserve(changes.size());
    index->layer_filter_.assign((std::size_t{1} << kFilterBits) / 64, 0);
    for (const auto& g : changes) {
      auto before = base->listed(g.prefix);
      size += static_cast<std::int64_t>(g.tokens.size()) -
              static_cast<std::int64_t>(before ? before->group.tokens.size() : 0);
      index->layer_keys_.push_back(g.prefix);
      const std::size_t bit = filter_bit(g.prefix);
      index->layer_filter_[bit >> 6] |= std::uint64_t{1} << (bit & 63);
    }
    index->layer_ = std::move(changes);
    index->base_ = std::move(base);
    index->size_ = static_cast<std::uint64_t>(std::max<std::int64_t>(0, size));
    index->meta_ = std::move(meta);
    return std::shared_ptr<const CardIndex>(std::move(index));
  } catch (const std::bad_alloc&) {
    return make_error("out_of_memory", "not enough memory to layer the card list update");
  }
}

Result<std::shared_ptr<const CardIndex>> CardIndex::with_changes(
    std::span<const PrefixGroup> changes, ListMeta meta) const {
  if (auto r = check_changes(changes); !r) return r.error();
  if (base_) {
    try {
      const auto all = overlay(layer_, changes);
      return base_->with_changes(all, std::move(meta));
    } catch (const std::bad_alloc&) {
      return make_error("out_of_memory", "not enough memory to merge the card list update");
    }
  }
  if (keys_.size() + changes.size() > kMaxEntries) {
    return make_error("index_too_large", "too many entries");
  }
  // A failed allocation of a few hundred MiB must leave the old list serving, not end the process.
  try {
    std::shared_ptr<CardIndex> next(new CardIndex());
    next->keys_.reserve(keys_.size() + changes.size());
    next->values_.reserve(keys_.size() + changes.size());
    std::size_t i = 0;   // next old entry to carry over
    std::size_t ci = 0;  // next old collision to carry over
    const auto* kb = keys_.data();
    const auto* vb = values_.data();
    for (const auto& g : changes) {
      // The directory narrows the search to a handful of entries.
      const std::size_t j = std::max<std::size_t>(i, position(g.prefix));
      next->keys_.insert(next->keys_.end(), kb + i, kb + j);
      next->values_.insert(next->values_.end(), vb + i, vb + j);
      i = j;
      if (i < keys_.size() && keys_[i] == g.prefix) ++i;  // replaced by the group
      while (ci < collisions_.size() && collisions_[ci].prefix < g.prefix)
        next->collisions_.push_back(collisions_[ci++]);
      if (ci < collisions_.size() && collisions_[ci].prefix == g.prefix) ++ci;
      if (g.tokens.empty()) continue;
      next->keys_.push_back(g.prefix);
      next->values_.push_back(g.tokens.front().packed);
      if (g.tokens.size() > 1) next->collisions_.push_back(g);
    }
    next->keys_.insert(next->keys_.end(), kb + i, kb + keys_.size());
    next->values_.insert(next->values_.end(), vb + i, vb + values_.size());
    while (ci < collisions_.size()) next->collisions_.push_back(collisions_[ci++]);
    next->meta_ = std::move(meta);
    next->finish();
    return std::shared_ptr<const CardIndex>(std::move(next));
  } catch (const std::bad_alloc&) {
    return make_error("out_of_memory", "not enough memory to build the updated card index");
  }
}

CardIndexBuilder::CardIndexBuilder(std::size_t expected_entries) {
  keys_.reserve(expected_entries);
  values_.reserve(expected_entries);
}

bool CardIndexBuilder::add(const TokenBytes& token, std::uint32_t packed) {
  if (have_last_ && !token_less(last_, token)) {
    out_of_order_ = true;
    return false;
  }
  const std::uint64_t key = token_prefix(token);
  if (have_last_ && !keys_.empty() && keys_.back() == key) {
    if (collisions_.empty() || collisions_.back().prefix != key) {
      collisions_.push_back(PrefixGroup{key, {IndexedToken{last_, values_.back()}}});
    }
    collisions_.back().tokens.push_back(IndexedToken{token, packed});
  } else {
    keys_.push_back(key);
    values_.push_back(packed);
  }
  last_ = token;
  have_last_ = true;
  return true;
}

Result<std::shared_ptr<const CardIndex>> CardIndexBuilder::finish(ListMeta meta) {
  if (out_of_order_) return make_error("unsorted", "tokens were not given in ascending order");
  if (keys_.size() > kMaxEntries) return make_error("index_too_large", "too many entries");
  std::shared_ptr<CardIndex> index(new (std::nothrow) CardIndex());
  if (!index) return make_error("out_of_memory", "cannot allocate the card index");
  index->keys_ = std::move(keys_);
  index->values_ = std::move(values_);
  index->collisions_ = std::move(collisions_);
  index->meta_ = std::move(meta);
  index->finish();
  return std::shared_ptr<const CardIndex>(std::move(index));
}

}  // namespace yktgw
