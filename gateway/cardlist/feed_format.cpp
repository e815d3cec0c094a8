#include "gateway/cardlist/feed_format.h"

#include <algorithm>
#include <cstring>
#include <new>

#include "gateway/cardlist/attribute_names.h"

namespace yktgw {
namespace {

void put_u16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xFF));
}
void put_u32(std::string& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>((v >> s) & 0xFF));
}
void put_i64(std::string& out, std::int64_t v) {
  const auto u = static_cast<std::uint64_t>(v);
  for (int s = 56; s >= 0; s -= 8) out.push_back(static_cast<char>((u >> s) & 0xFF));
}

std::uint64_t get_be(const unsigned char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | p[i];
  return v;
}

Error refuse(std::string code, std::string why) {
  return make_error(std::move(code), "card list feed refused: " + why);
}

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xF]);
  }
  return out;
}

}  // namespace

std::string_view to_string(FeedKind kind) { return kind == FeedKind::delta ? "delta" : "snapshot"; }

std::string encode_feed(const FeedHeader& header, const std::vector<FeedEntry>& entries,
                        const Sm2PrivateKey& key) {
  std::vector<const FeedEntry*> sorted;
  sorted.reserve(entries.size());
  for (const auto& e : entries) sorted.push_back(&e);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const FeedEntry* a, const FeedEntry* b) { return a->token < b->token; });

  std::string out;
  out.reserve(kFeedHeaderBytes + 33 * header.groups.size() + 4 + entries.size() * kFeedEntryBytes +
              2 + 80);
  out.append(kFeedMagic);
  put_u16(out, kFeedFormatVersion);
  out.push_back(static_cast<char>(header.kind));
  out.push_back(static_cast<char>(header.groups.size()));
  put_i64(out, header.base_version);
  put_i64(out, header.version);
  put_i64(out, header.created_ms);
  for (const auto& g : header.groups) {
    out.push_back(static_cast<char>(g.size()));
    out.append(g);
  }
  put_u32(out, static_cast<std::uint32_t>(entries.size()));
  for (const FeedEntry* e : sorted) {
    out.append(reinterpret_cast<const char*>(e->token.data()), e->token.size());
    out.push_back(static_cast<char>(e->op));
    out.push_back(static_cast<char>(e->status));
    put_u32(out, e->attributes);
  }
  const std::string signature = key.sign(out);
  if (signature.empty() || signature.size() > 0xFFFF) return {};
  put_u16(out, static_cast<std::uint16_t>(signature.size()));
  out.append(signature);
  return out;
}

Result<Feed> decode_feed(std::string_view bytes, const Sm2PublicKey& key) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t size = bytes.size();
  const std::size_t magic_seen = std::min(size, kFeedMagic.size());
  if (bytes.substr(0, magic_seen) != kFeedMagic.substr(0, magic_seen)) {
    return refuse("feed_bad_magic", "not a card list feed (magic is not YKTCARDL)");
  }
  if (size < kFeedHeaderBytes) return refuse("feed_truncated", "header cut short");
  const auto format = static_cast<std::uint16_t>(get_be(p + 8, 2));
  if (format != kFeedFormatVersion) {
    return refuse("feed_bad_format", "format version " + std::to_string(format) +
                                         "; this gateway reads version " +
                                         std::to_string(kFeedFormatVersion));
  }
  Feed feed;
  FeedHeader& h = feed.header;
  const unsigned kind = p[10];
  const unsigned group_count = p[11];
  h.base_version = static_cast<std::int64_t>(get_be(p + 12, 8));
  h.version = static_cast<std::int64_t>(get_be(p + 20, 8));
  h.created_ms = static_cast<std::int64_t>(get_be(p + 28, 8));

  std::size_t pos = kFeedHeaderBytes;
  for (unsigned i = 0; i < group_count; ++i) {
    if (pos + 1 > size) return refuse("feed_truncated", "group table cut short");
    const std::size_t len = p[pos];
    if (pos + 1 + len > size) return refuse("feed_truncated", "group table cut short");
    h.groups.emplace_back(bytes.substr(pos + 1, len));
    pos += 1 + len;
  }
  if (pos + 4 > size) return refuse("feed_truncated", "entry count cut short");
  const std::uint64_t count = get_be(p + pos, 4);
  pos += 4;
  const std::size_t entries_at = pos;
  // Compared before anything is allocated, so a forged count cannot reserve gigabytes.
  if (count > (size - pos) / kFeedEntryBytes) return refuse("feed_truncated", "entries cut short");
  pos += count * kFeedEntryBytes;
  const std::size_t signed_end = pos;
  if (pos + 2 > size) return refuse("feed_truncated", "signature cut short");
  const std::size_t sig_len = get_be(p + pos, 2);
  pos += 2;
  if (pos + sig_len > size) return refuse("feed_truncated", "signature cut short");
  if (pos + sig_len < size) {
    return refuse("feed_malformed",
                  std::to_string(size - pos - sig_len) + " bytes after the signature");
  }
  if (!key.verify(bytes.substr(0, signed_end), bytes.substr(pos, sig_len))) {
    return refuse("feed_bad_signature", "the platform signature does not verify");
  }

  // Signed by the platform from here on; still checked, since a gateway must never act on a
  // value it does not understand.
  if (kind != static_cast<unsigned>(FeedKind::snapshot) &&
      kind != static_cast<unsigned>(FeedKind::delta)) {
    return refuse("feed_malformed", "unknown kind " + std::to_string(kind));
  }
  h.kind = static_cast<FeedKind>(kind);
  if (h.kind == FeedKind::snapshot && (h.base_version != 0 || h.version < 1)) {
    return refuse("feed_malformed", "a snapshot needs base version 0 and a version of at least 1");
  }
  if (h.kind == FeedKind::delta && (h.base_version < 0 || h.version != h.base_version + 1)) {
    return refuse("feed_malformed", "a delta must go from version N >= 0 to N + 1");
  }
  if (h.created_ms <= 0) return refuse("feed_malformed", "created_ms must be positive");
  if (auto names = AttributeNames::from(h.groups); !names) {
    return refuse("feed_malformed", names.error().message);
  }
  const HolderAttributes allowed =
      kFixedAttributes | (((HolderAttributes{1} << group_count) - 1) << kFirstGroupBit);

  try {
    feed.entries.resize(count);
  } catch (const std::bad_alloc&) {
    return make_error("out_of_memory",
                      "not enough memory for " + std::to_string(count) + " feed entries");
  }
  for (std::uint64_t i = 0; i < count; ++i) {
    const unsigned char* e = p + entries_at + i * kFeedEntryBytes;
    FeedEntry& out = feed.entries[i];
    std::memcpy(out.token.data(), e, out.token.size());
    const unsigned op = e[32];
    const unsigned status = e[33];
    const auto attributes = static_cast<HolderAttributes>(get_be(e + 34, 4));
    auto bad = [&](const std::string& why) {
      return refuse("feed_malformed_entry", "entry " + std::to_string(i) + ": " + why);
    };
    if (i > 0 && !(feed.entries[i - 1].token < out.token)) {
      return bad("tokens must be strictly ascending");
    }
    if (op == static_cast<unsigned>(FeedOp::upsert)) {
      if (status > static_cast<unsigned>(CardStatus::cancelled)) {
        return bad("status " + std::to_string(status) + " is not 0-3");
      }
      if ((attributes & ~allowed) != 0) return bad("attribute bits without a definition");
    } else if (op == static_cast<unsigned>(FeedOp::remove)) {
      if (h.kind == FeedKind::snapshot) return bad("a snapshot holds no deletes");
      if (status != 0 || attributes != 0) return bad("a delete carries status 0, attributes 0");
    } else {
      return bad("op " + std::to_string(op) + " is not 1 (upsert) or 2 (delete)");
    }
    out.op = static_cast<FeedOp>(op);
    out.status = static_cast<CardStatus>(status);
    out.attributes = attributes;
  }
  feed.id = hex(sm3(bytes.substr(pos, sig_len)));
  return feed;
}

}  // namespace yktgw
