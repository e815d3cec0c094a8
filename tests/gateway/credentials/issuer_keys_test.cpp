#include "gateway/credentials/issuer_keys.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/gateway/credentials/test_support.h"

namespace yktgw {
namespace {

using testing::TempDir;

std::string public_pem() { return Sm2PrivateKey::generate().value().public_pem(); }

TEST(IssuerKeyRing, LoadsOnlyWellNamedPublicKeys) {
  TempDir dir;
  const auto key = Sm2PrivateKey::generate().value();
  dir.write("50-k1.pub.pem", key.public_pem(), 0644);
  dir.write("50-k1.key.pem", key.private_pem());  // private key beside it: skipped
  dir.write("51-k-2_b.pub.pem", public_pem(), 0644);
  dir.write("README.md", "not a key", 0644);
  dir.write("5-k1.pub.pem", "skipped: one-digit region", 0644);
  dir.write("500-k1.pub.pem", "skipped: three-digit region", 0644);
  dir.write("50-.pub.pem", "skipped: no kid", 0644);
  dir.write("50-k1.pub.pem.bak", "skipped", 0644);
  dir.write("50-k1.pem", "skipped", 0644);
  auto ring = IssuerKeyRing::from_dir(dir.path().string());
  ASSERT_TRUE(ring) << ring.error().message;
  EXPECT_EQ(ring->size(), 2u);
  EXPECT_EQ(ring->describe(), "50-k1,51-k-2_b");
  const Sm2PublicKey* k = ring->find(50, "k1");
  ASSERT_NE(k, nullptr);
  EXPECT_TRUE(k->verify("m", key.sign("m")));
  EXPECT_NE(ring->find(51, "k-2_b"), nullptr);
  EXPECT_EQ(ring->find(51, "k1"), nullptr);
  EXPECT_EQ(ring->find(52, "k1"), nullptr);
  EXPECT_EQ(ring->find(50, "K1"), nullptr);
}

TEST(IssuerKeyRing, BadKeyFileIsAnError) {
  TempDir dir;
  dir.write("50-k1.pub.pem", "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n");
  auto ring = IssuerKeyRing::from_dir(dir.path().string());
  ASSERT_FALSE(ring);
  EXPECT_NE(ring.error().message.find("50-k1.pub.pem"), std::string::npos) << ring.error().message;
}

TEST(IssuerKeyRing, NonSm2KeyIsAnError) {
  if (!testing::have_openssl_cli()) GTEST_SKIP() << "no openssl CLI";
  TempDir dir;
  const std::string priv = dir.file("p256.pem");
  ASSERT_EQ(
      testing::run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " + priv),
      0);
  ASSERT_EQ(testing::run("openssl pkey -in " + priv + " -pubout -out " + dir.file("50-k1.pub.pem")),
            0);
  auto ring = IssuerKeyRing::from_dir(dir.path().string());
  ASSERT_FALSE(ring);
  EXPECT_NE(ring.error().message.find("not an SM2 key"), std::string::npos) << ring.error().message;
}

TEST(IssuerKeyRing, MissingDirectoryIsAnError) {
  TempDir dir;
  auto ring = IssuerKeyRing::from_dir(dir.file("absent"));
  ASSERT_FALSE(ring);
  EXPECT_NE(ring.error().message.find("does not exist"), std::string::npos);
  auto file = IssuerKeyRing::from_dir(dir.write("plain", "x"));
  EXPECT_FALSE(file);
}

TEST(IssuerKeyRing, EmptyDirectoryHasNoKeys) {
  TempDir dir;
  auto ring = IssuerKeyRing::from_dir(dir.path().string());
  ASSERT_TRUE(ring);
  EXPECT_EQ(ring->size(), 0u);
  EXPECT_EQ(ring->find(50, "k1"), nullptr);
}

}  // namespace
}  // namespace yktgw
