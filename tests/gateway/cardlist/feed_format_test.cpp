#include "gateway/cardlist/feed_format.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

#include "tests/gateway/cardlist/cardlist_test_util.h"

namespace yktgw {
namespace {

using namespace yktgw::testing;

class FeedFormatTest : public ::testing::Test {
 protected:
  FeedFormatTest() : pub_(platform_public_key()) {
    std::mt19937_64 rng(7);
    for (int i = 0; i < 3; ++i) tokens_.push_back(random_token(rng));
    std::sort(tokens_.begin(), tokens_.end());
  }

  Result<Feed> decode(const std::string& bytes) const { return decode_feed(bytes, pub_); }

  std::string code_of(const std::string& bytes) const {
    auto f = decode(bytes);
    return f.ok() ? "ok" : f.error().code;
  }

  // A delta with every op, status and fixed attribute.
  std::string sample_delta() const {
    return delta_bytes(41,
                       {upsert(tokens_[2], CardStatus::lost, kAttrDisabled), removal(tokens_[1]),
                        upsert(tokens_[0], CardStatus::active,
                               kAttrLocalResident | (1u << (kFirstGroupBit + 3)))});
  }

  Sm2PublicKey pub_;
  std::vector<TokenBytes> tokens_;
};

TEST_F(FeedFormatTest, SnapshotRoundTrips) {
  const std::vector<FeedEntry> entries{upsert(tokens_[1], CardStatus::frozen),
                                       upsert(tokens_[0], CardStatus::cancelled, kAttrDisabled)};
  const std::string bytes = snapshot_bytes(7, entries, 1'718'000'000'000);
  ASSERT_FALSE(bytes.empty());
  EXPECT_EQ(bytes.substr(0, 8), "YKTCARDL");
  auto f = decode(bytes);
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->header.kind, FeedKind::snapshot);
  EXPECT_EQ(f->header.base_version, 0);
  EXPECT_EQ(f->header.version, 7);
  EXPECT_EQ(f->header.created_ms, 1'718'000'000'000);
  EXPECT_EQ(f->header.groups, feed_groups());
  ASSERT_EQ(f->entries.size(), 2u);
  EXPECT_EQ(f->entries[0], entries[1]);  // sorted by token on the way out
  EXPECT_EQ(f->entries[1], entries[0]);
  EXPECT_EQ(f->id.size(), 64u);
}

TEST_F(FeedFormatTest, DeltaRoundTripsWithEveryOp) {
  auto f = decode(sample_delta());
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->header.kind, FeedKind::delta);
  EXPECT_EQ(f->header.base_version, 41);
  EXPECT_EQ(f->header.version, 42);
  ASSERT_EQ(f->entries.size(), 3u);
  EXPECT_EQ(f->entries[0].attributes, kAttrLocalResident | (1u << (kFirstGroupBit + 3)));
  EXPECT_EQ(f->entries[1].op, FeedOp::remove);
  EXPECT_EQ(f->entries[2].status, CardStatus::lost);
}

TEST_F(FeedFormatTest, TheSizeIsAsDocumented) {
  // 36 header + group table + 4 count + 38 per entry + 2 + DER signature (70-72 bytes).
  const std::string bytes = sample_delta();
  std::size_t groups = 0;
  for (const auto& g : feed_groups()) groups += 1 + g.size();
  const std::size_t body = 36 + groups + 4 + 3 * 38;
  EXPECT_EQ(signed_part(bytes).size(), body);
  EXPECT_GE(bytes.size(), body + 2 + 68);
  EXPECT_LE(bytes.size(), body + 2 + 72);
}

TEST_F(FeedFormatTest, AnEmptyDeltaIsValid) {
  auto f = decode(delta_bytes(0, {}));
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_TRUE(f->entries.empty());
  EXPECT_EQ(f->header.version, 1);
}

TEST_F(FeedFormatTest, TheFeedIdTellsFeedsApart) {
  auto a = decode(sample_delta());
  auto b = decode(sample_delta());  // same content, a new signature
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->id, b->id);
}

TEST_F(FeedFormatTest, RefusesAnotherKeysSignature) {
  auto other = Sm2PrivateKey::generate();
  ASSERT_TRUE(other.ok());
  auto other_pub = other->public_key();
  ASSERT_TRUE(other_pub.ok());
  auto f = decode_feed(sample_delta(), *other_pub);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code, "feed_bad_signature");
  EXPECT_NE(f.error().message.find("refused"), std::string::npos);
}

TEST_F(FeedFormatTest, RefusesEveryTamperedByte) {
  const std::string good = sample_delta();
  for (std::size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    EXPECT_NE(code_of(bad), "ok") << "byte " << i;
  }
  // Within the signed body every flip is caught by the signature at the latest.
  std::string body_flip = good;
  body_flip[signed_part(good).size() - 1] ^= 0x40;  // the last attribute byte
  EXPECT_EQ(code_of(body_flip), "feed_bad_signature");
}

TEST_F(FeedFormatTest, RefusesEveryTruncation) {
  const std::string good = sample_delta();
  for (std::size_t n = 0; n < good.size(); ++n) {
    EXPECT_EQ(code_of(good.substr(0, n)), "feed_truncated") << n << " bytes";
  }
}

TEST_F(FeedFormatTest, RefusesTrailingBytes) {
  EXPECT_EQ(code_of(sample_delta() + "x"), "feed_malformed");
}

TEST_F(FeedFormatTest, RefusesBadMagicAndFormat) {
  std::string bad_magic = sample_delta();
  bad_magic[0] = 'X';
  EXPECT_EQ(code_of(bad_magic), "feed_bad_magic");
  EXPECT_EQ(code_of("<html>502 Bad Gateway</html>"), "feed_bad_magic");
  std::string v2 = signed_part(sample_delta());
  v2[9] = 2;
  EXPECT_EQ(code_of(resign(v2)), "feed_bad_format");
}

// Signed by the platform, yet not something a gateway may act on.
TEST_F(FeedFormatTest, RefusesSignedButMalformedHeaders) {
  const std::string body = signed_part(sample_delta());
  auto with_byte = [&](std::size_t at, char value) {
    std::string b = body;
    b[at] = value;
    return resign(b);
  };
  EXPECT_EQ(code_of(with_byte(10, 3)), "feed_malformed");   // kind
  EXPECT_EQ(code_of(with_byte(27, 50)), "feed_malformed");  // delta version != base + 1

  FeedHeader h;
  h.kind = FeedKind::snapshot;
  h.version = 0;
  h.created_ms = 1;
  EXPECT_EQ(code_of(encode_feed(h, {}, platform_key())), "feed_malformed");  // version 0
  h.version = 3;
  h.base_version = 2;
  EXPECT_EQ(code_of(encode_feed(h, {}, platform_key())), "feed_malformed");  // base in snapshot
  h.base_version = 0;
  h.created_ms = 0;
  EXPECT_EQ(code_of(encode_feed(h, {}, platform_key())), "feed_malformed");
  h.created_ms = 1;
  h.groups = {"staff", "staff"};
  EXPECT_EQ(code_of(encode_feed(h, {}, platform_key())), "feed_malformed");
  h.groups = {"Staff"};
  EXPECT_EQ(code_of(encode_feed(h, {}, platform_key())), "feed_malformed");
  h.groups = {"disabled"};
  EXPECT_EQ(code_of(encode_feed(h, {}, platform_key())), "feed_malformed");
  h.groups.assign(25, "");
  for (std::size_t i = 0; i < h.groups.size(); ++i) h.groups[i] = "g" + std::to_string(i);
  EXPECT_EQ(code_of(encode_feed(h, {}, platform_key())), "feed_malformed");  // 25 groups
  h.groups.resize(24);
  EXPECT_EQ(code_of(encode_feed(h, {}, platform_key())), "ok");
}

TEST_F(FeedFormatTest, RefusesSignedButMalformedEntries) {
  const TokenBytes t = tokens_[0];
  auto bad_status = upsert(t, static_cast<CardStatus>(4));
  EXPECT_EQ(code_of(delta_bytes(1, {bad_status})), "feed_malformed_entry");
  FeedEntry bad_op = upsert(t, CardStatus::lost);
  bad_op.op = static_cast<FeedOp>(3);
  EXPECT_EQ(code_of(delta_bytes(1, {bad_op})), "feed_malformed_entry");
  // Attribute bits must be defined: bits 2-7 are reserved, group bits need a name.
  EXPECT_EQ(code_of(delta_bytes(1, {upsert(t, CardStatus::active, 1u << 2)})),
            "feed_malformed_entry");
  EXPECT_EQ(code_of(delta_bytes(1, {upsert(t, CardStatus::active, 1u << (kFirstGroupBit + 4))})),
            "feed_malformed_entry");
  EXPECT_EQ(code_of(delta_bytes(1, {upsert(t, CardStatus::active, 1u << (kFirstGroupBit + 3))})),
            "ok");
  // A delete carries nothing else; a snapshot holds no deletes.
  FeedEntry loaded_delete = removal(t);
  loaded_delete.status = CardStatus::lost;
  EXPECT_EQ(code_of(delta_bytes(1, {loaded_delete})), "feed_malformed_entry");
  EXPECT_EQ(code_of(snapshot_bytes(1, {removal(t)})), "feed_malformed_entry");
  // One entry per token: encode_feed keeps duplicates, decode refuses them.
  EXPECT_EQ(code_of(delta_bytes(1, {upsert(t, CardStatus::lost), upsert(t, CardStatus::frozen)})),
            "feed_malformed_entry");
}

TEST_F(FeedFormatTest, RefusesEntriesOutOfOrder) {
  std::string body = signed_part(
      delta_bytes(1, {upsert(tokens_[0], CardStatus::lost), upsert(tokens_[1], CardStatus::lost)}));
  const std::size_t first = body.size() - 2 * kFeedEntryBytes;
  const std::string a = body.substr(first, kFeedEntryBytes);
  const std::string b = body.substr(first + kFeedEntryBytes, kFeedEntryBytes);
  body.replace(first, 2 * kFeedEntryBytes, b + a);
  auto f = decode(resign(body));
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code, "feed_malformed_entry");
  EXPECT_NE(f.error().message.find("entry 1"), std::string::npos);
}

TEST_F(FeedFormatTest, AForgedEntryCountIsTruncationNotAnAllocation) {
  std::string body = signed_part(sample_delta());
  const std::size_t count_at = body.size() - 3 * kFeedEntryBytes - 4;
  body[count_at] = '\x7f';  // about two billion entries announced
  EXPECT_EQ(code_of(resign(body)), "feed_truncated");
}

// The platform need not use this code: the signature is plain SM2-with-SM3 as the openssl CLI
// makes and checks it (docs/cardlist-feed.md shows the commands).
TEST_F(FeedFormatTest, TheOpensslCliAgreesOnTheSignature) {
  TempDir dir;
  const std::string feed = sample_delta();
  const std::string body = signed_part(feed);
  dir.write("platform.pub.pem", platform_key().public_pem());
  dir.write("platform.key.pem", platform_key().private_pem());
  dir.write("body.bin", body);
  dir.write("sig.der", feed.substr(body.size() + 2));
  const std::string opts = " -rawin -in body.bin -digest sm3 -pkeyopt distid:1234567812345678";
  const std::string cd = "cd '" + dir.file("") + "' && ";
  ASSERT_EQ(std::system((cd + "openssl pkeyutl -verify -pubin -inkey platform.pub.pem" + opts +
                         " -sigfile sig.der >/dev/null 2>&1")
                            .c_str()),
            0);
  ASSERT_EQ(std::system((cd + "openssl pkeyutl -sign -inkey platform.key.pem" + opts +
                         " -out cli.der 2>/dev/null")
                            .c_str()),
            0);
  const std::string cli_sig = dir.read("cli.der");
  std::string cli_feed = body;
  cli_feed.push_back(static_cast<char>(cli_sig.size() >> 8));
  cli_feed.push_back(static_cast<char>(cli_sig.size() & 0xFF));
  cli_feed += cli_sig;
  auto f = decode(cli_feed);
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->entries.size(), 3u);
}

}  // namespace
}  // namespace yktgw
