#pragma once
// The platform's signed card-list feed: a snapshot (the whole list at version N) or a delta
// (version N to N+1: upserts and deletes). One binary format for both, signed with SM2/SM3 by
// the platform; docs/cardlist-feed.md is the specification. The gateway decodes it, the
// platform (and ykt-platform-sim) encodes it, both with the functions below.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/cardlist/card_token.h"
#include "gateway/core/result.h"
#include "gateway/crypto/sm2.h"
#include "gateway/interfaces/card_list.h"

namespace yktgw {

inline constexpr std::string_view kFeedMagic = "YKTCARDL";
inline constexpr std::uint16_t kFeedFormatVersion = 1;
inline constexpr std::size_t kFeedHeaderBytes = 36;  // up to the group table
inline constexpr std::size_t kFeedEntryBytes = 38;   // token 32, op 1, status 1, attributes 4

enum class FeedKind : std::uint8_t { snapshot = 1, delta = 2 };
enum class FeedOp : std::uint8_t { upsert = 1, remove = 2 };

std::string_view to_string(FeedKind kind);

struct FeedHeader {
  FeedKind kind = FeedKind::snapshot;
  std::int64_t base_version = 0;  // delta: the version it applies to; snapshot: 0
  std::int64_t version = 0;       // delta: base_version + 1; snapshot: at least 1
  std::int64_t created_ms = 0;    // platform time (UTC ms); becomes the list's updated_ms
  // Names of the attribute group bits used by the entries: groups[i] is bit kFirstGroupBit + i.
  std::vector<std::string> groups;
  bool operator==(const FeedHeader&) const = default;
};

struct FeedEntry {
  TokenBytes token{};
  FeedOp op = FeedOp::upsert;
  CardStatus status = CardStatus::active;  // remove: active
  HolderAttributes attributes = 0;         // remove: 0; bits 0-1 fixed, 8.. as header.groups
  bool operator==(const FeedEntry&) const = default;
};

struct Feed {
  FeedHeader header;
  std::vector<FeedEntry> entries;  // strictly ascending by token
  // Lower-case hex SM3 of the signature field: names the feed in logs and in the database.
  // Hashing the signature rather than a gigabyte snapshot is enough, as it binds the body.
  std::string id;
};

// Sorts the entries by token and writes them; the values are not checked (decode_feed is the
// gate), which lets tests produce feeds that a gateway must refuse. Empty when signing fails.
std::string encode_feed(const FeedHeader& header, const std::vector<FeedEntry>& entries,
                        const Sm2PrivateKey& key);

// Checks structure, signature and every entry. Error codes: feed_bad_magic, feed_bad_format,
// feed_truncated, feed_malformed (trailing bytes, bad header values, bad group names),
// feed_bad_signature, feed_malformed_entry. Version order against the list in use is the
// applier's check (feed_version_gap, feed_stale_snapshot).
Result<Feed> decode_feed(std::string_view bytes, const Sm2PublicKey& key);

}  // namespace yktgw
