// Known answers for the primitives the QR codes rest on: SM3 vectors from GB/T 32905-2016
// Annex A, and SM2-with-SM3 signatures exchanged with the openssl CLI in both directions, so our
// EVP code and an independent implementation agree on Z (with the ID) and the DER encoding.

#include <gtest/gtest.h>

#include <string>

#include "gateway/crypto/sm2.h"
#include "tests/gateway/credentials/test_support.h"

namespace yktgw {
namespace {

using testing::TempDir;

std::string hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
  }
  return out;
}

TEST(Sm3, GbT32905ExampleOne) {
  EXPECT_EQ(hex(sm3("abc")), "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
}

TEST(Sm3, GbT32905ExampleTwo) {
  std::string m;
  for (int i = 0; i < 16; ++i) m += "abcd";
  EXPECT_EQ(hex(sm3(m)), "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732");
}

class Sm2Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::have_openssl_cli()) GTEST_SKIP() << "no openssl CLI";
    key_ = dir_.file("key.pem");
    pub_ = dir_.file("pub.pem");
    ASSERT_EQ(testing::run("openssl genpkey -algorithm SM2 -out " + key_), 0);
    ASSERT_EQ(testing::run("openssl pkey -in " + key_ + " -pubout -out " + pub_), 0);
    msg_ = dir_.write("msg", kMessage);
  }

  std::string cli_sign(const std::string& id) {
    const std::string sig = dir_.file("cli.sig");
    EXPECT_EQ(testing::run("openssl pkeyutl -sign -rawin -digest sm3 -inkey " + key_ +
                           " -pkeyopt distid:" + id + " -in " + msg_ + " -out " + sig),
              0);
    return testing::read_file(sig);
  }

  bool cli_verify(const std::string& signature, const std::string& id) {
    const std::string sig = dir_.write("ours.sig", signature);
    return testing::run("openssl pkeyutl -verify -rawin -digest sm3 -pubin -inkey " + pub_ +
                        " -pkeyopt distid:" + id + " -in " + msg_ + " -sigfile " + sig) == 0;
  }

  static constexpr const char* kMessage =
      "YKT1.eyJ2IjoxLCJpc3MiOiI1MCJ9";  // any bytes; shaped like a code's signed part
  TempDir dir_;
  std::string key_, pub_, msg_;
};

TEST_F(Sm2Cli, OpensslSignatureVerifiesWithOurPublicKey) {
  const std::string sig = cli_sign("1234567812345678");
  ASSERT_FALSE(sig.empty());
  auto pub = Sm2PublicKey::from_pem_file(pub_);
  ASSERT_TRUE(pub) << pub.error().message;
  EXPECT_TRUE(pub->verify(kMessage, sig));
  EXPECT_TRUE(pub->verify(kMessage, sig, kDefaultSm2Id));
  // The ID is part of what is signed: another ID, message or signature byte fails.
  EXPECT_FALSE(pub->verify(kMessage, sig, "1234567812345679"));
  EXPECT_FALSE(pub->verify(std::string(kMessage) + "x", sig));
  std::string bad = sig;
  bad[bad.size() / 2] ^= 0x01;
  EXPECT_FALSE(pub->verify(kMessage, bad));
}

TEST_F(Sm2Cli, OurSignatureVerifiesWithOpenssl) {
  auto key = Sm2PrivateKey::from_pem_file(key_);
  ASSERT_TRUE(key) << key.error().message;
  const std::string sig = key->sign(kMessage);
  ASSERT_FALSE(sig.empty());
  EXPECT_EQ(static_cast<unsigned char>(sig[0]), 0x30) << "DER SEQUENCE";
  EXPECT_TRUE(cli_verify(sig, "1234567812345678"));
  EXPECT_FALSE(cli_verify(sig, "8765432187654321"));
}

TEST_F(Sm2Cli, OpensslSignatureWithAnotherIdDoesNotVerifyUnderTheDefault) {
  const std::string sig = cli_sign("YKT-OTHER-ID");
  auto pub = Sm2PublicKey::from_pem_file(pub_);
  ASSERT_TRUE(pub);
  EXPECT_FALSE(pub->verify(kMessage, sig));
  EXPECT_TRUE(pub->verify(kMessage, sig, "YKT-OTHER-ID"));
}

}  // namespace
}  // namespace yktgw
