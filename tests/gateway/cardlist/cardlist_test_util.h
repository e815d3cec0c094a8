#pragma once
// Helpers shared by the card list tests: temporary directories, tokens, feeds and a platform key.

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "gateway/cardlist/card_token.h"
#include "gateway/cardlist/feed_format.h"
#include "gateway/crypto/sm2.h"
#include "tests/common/temp_dir.h"

namespace yktgw::testing {

// The platform's key pair, made once per test binary (SM2 key generation is not free).
inline const Sm2PrivateKey& platform_key() {
  static const Sm2PrivateKey key = [] {
    auto k = Sm2PrivateKey::generate();
    EXPECT_TRUE(k.ok());
    return std::move(k).value();
  }();
  return key;
}

inline Sm2PublicKey platform_public_key() {
  auto pub = platform_key().public_key();
  EXPECT_TRUE(pub.ok());
  return std::move(pub).value();
}

inline TokenBytes random_token(std::mt19937_64& rng) {
  TokenBytes t{};
  for (std::size_t i = 0; i < t.size(); i += 8) {
    const std::uint64_t v = rng();
    for (std::size_t j = 0; j < 8; ++j) t[i + j] = static_cast<std::uint8_t>(v >> (8 * j));
  }
  return t;
}

// A token whose first 64 bits are `prefix` and whose last byte is `tail`: several of them
// collide in the index.
inline TokenBytes token_with_prefix(std::uint64_t prefix, std::uint8_t tail) {
  TokenBytes t{};
  for (std::size_t i = 0; i < 8; ++i) t[i] = static_cast<std::uint8_t>(prefix >> (56 - 8 * i));
  t[31] = tail;
  return t;
}

inline FeedEntry upsert(const TokenBytes& t, CardStatus s, HolderAttributes a = 0) {
  return FeedEntry{t, FeedOp::upsert, s, a};
}
inline FeedEntry removal(const TokenBytes& t) {
  return FeedEntry{t, FeedOp::remove, CardStatus::active, 0};
}

inline const std::vector<std::string>& feed_groups() {
  static const std::vector<std::string> groups{"staff", "student", "site_worker", "resident"};
  return groups;
}

inline std::string snapshot_bytes(std::int64_t version, const std::vector<FeedEntry>& entries,
                                  std::int64_t created_ms = 1'700'000'000'000,
                                  std::vector<std::string> groups = feed_groups()) {
  FeedHeader h;
  h.kind = FeedKind::snapshot;
  h.version = version;
  h.created_ms = created_ms;
  h.groups = std::move(groups);
  return encode_feed(h, entries, platform_key());
}

inline std::string delta_bytes(std::int64_t base, const std::vector<FeedEntry>& entries,
                               std::int64_t created_ms = 1'700'000'100'000,
                               std::vector<std::string> groups = feed_groups()) {
  FeedHeader h;
  h.kind = FeedKind::delta;
  h.base_version = base;
  h.version = base + 1;
  h.created_ms = created_ms;
  h.groups = std::move(groups);
  return encode_feed(h, entries, platform_key());
}

inline Feed decoded(const std::string& bytes) {
  auto f = decode_feed(bytes, platform_public_key());
  EXPECT_TRUE(f.ok()) << (f.ok() ? "" : f.error().message);
  return f.ok() ? std::move(f).value() : Feed{};
}

// The signed part of an encoded feed (everything before the signature length), found from the
// header as docs/cardlist-feed.md lays it out.
inline std::string signed_part(const std::string& feed) {
  const auto* p = reinterpret_cast<const unsigned char*>(feed.data());
  std::size_t pos = kFeedHeaderBytes;
  for (unsigned g = 0; g < p[11]; ++g) pos += 1 + p[pos];
  const std::size_t count = (std::size_t{p[pos]} << 24) | (std::size_t{p[pos + 1]} << 16) |
                            (std::size_t{p[pos + 2]} << 8) | p[pos + 3];
  return feed.substr(0, pos + 4 + count * kFeedEntryBytes);
}

// Signs `body` as the platform would, so a test can build feeds with a valid signature that a
// gateway must still refuse.
inline std::string resign(std::string body) {
  const std::string sig = platform_key().sign(body);
  body.push_back(static_cast<char>(sig.size() >> 8));
  body.push_back(static_cast<char>(sig.size() & 0xFF));
  return body + sig;
}

}  // namespace yktgw::testing
