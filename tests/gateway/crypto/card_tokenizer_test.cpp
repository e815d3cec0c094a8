#include "gateway/crypto/card_tokenizer.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "tests/common/temp_dir.h"

namespace yktgw {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// The raw bytes of the hex key 00112233445566778899aabbccddeeff.
std::string key16() {
  std::string k;
  for (int i = 0; i < 16; ++i) k.push_back(static_cast<char>(i * 0x11));
  return k;
}

// HMAC-SM3 through OpenSSL's one-shot API: an independent path to the same answer.
std::string reference_hmac_sm3(std::string_view key, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  std::size_t out_len = 0;
  const unsigned char* mac =
      EVP_Q_mac(nullptr, "HMAC", nullptr, "SM3", nullptr, key.data(), key.size(),
                reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(),
                out.size(), &out_len);
  if (mac == nullptr) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (std::size_t i = 0; i < out_len; ++i) {
    hex.push_back(kHex[out[i] >> 4]);
    hex.push_back(kHex[out[i] & 0xf]);
  }
  return hex;
}

CardTokenizer make(std::string key = key16()) {
  auto t = CardTokenizer::create(std::move(key));
  EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message);
  return std::move(t).value();
}

// Obtained once with:
//   printf '%s' 11010519491231002X |
//     openssl dgst -sm3 -mac HMAC -macopt hexkey:00112233445566778899aabbccddeeff
constexpr std::string_view kCliVector =
    "25172451a5ff43be37108600d308eb78991ea8edea8f461b656e15052f97b370";

TEST(CardTokenizer, MatchesTheOpensslCommandLineVector) {
  EXPECT_EQ(make().token("11010519491231002X"), kCliVector);
}

TEST(CardTokenizer, MatchesOneShotHmacSm3) {
  const std::string key = "a different key of 32 bytes!!!!!";
  auto tok = make(key);
  for (std::string_view card : {"500156199001011234", "11010519491231002X", "12345678", "1"}) {
    const std::string expected = reference_hmac_sm3(key, card);
    ASSERT_EQ(expected.size(), 64u);
    EXPECT_EQ(tok.token(card), expected) << card;
  }
}

TEST(CardTokenizer, TokenIsSixtyFourLowerCaseHexDigits) {
  const std::string t = make().token("500156199001011234");
  ASSERT_EQ(t.size(), 64u);
  for (char c : t)
    EXPECT_TRUE(std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f'));
}

TEST(CardTokenizer, NormalisesSurroundingSpaceAndLowerCaseX) {
  auto tok = make();
  EXPECT_EQ(tok.token("  11010519491231002X "), kCliVector);
  EXPECT_EQ(tok.token("\t11010519491231002X\n"), kCliVector);
  EXPECT_EQ(tok.token("11010519491231002x"), kCliVector);
  // Only surrounding space is removed; inner space makes a different number.
  EXPECT_NE(tok.token("110105 19491231002X"), kCliVector);
}

TEST(CardTokenizer, DifferentInputsGiveDifferentTokens) {
  auto tok = make();
  EXPECT_NE(tok.token("500156199001011234"), tok.token("500156199001011235"));
  EXPECT_EQ(tok.token("500156199001011234"), tok.token("500156199001011234"));
}

TEST(CardTokenizer, DifferentKeysGiveDifferentTokens) {
  std::string other = key16();
  other.back() ^= 0x01;
  EXPECT_NE(make(key16()).token("11010519491231002X"), make(other).token("11010519491231002X"));
}

TEST(CardTokenizer, SurvivesAMove) {
  CardTokenizer a = make();
  CardTokenizer b = std::move(a);
  EXPECT_EQ(b.token("11010519491231002X"), kCliVector);
}

TEST(CardTokenizer, RefusesKeysShorterThanSixteenBytes) {
  auto t = CardTokenizer::create(std::string(15, 'k'));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().code, "hmac_key");
  EXPECT_TRUE(CardTokenizer::create(std::string(16, 'k')).ok());
}

TEST(CardTokenizerKeyFile, ReadsAValid0600File) {
  TempDir dir;
  // Surrounding and inner white space is allowed; upper-case hex too.
  auto path = dir.write("hmac.key", "00112233445566778899AABBCCDDEEFF\n", 0600);
  auto t = CardTokenizer::from_key_file(path);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->token("11010519491231002X"), kCliVector);

  auto spaced = dir.write("spaced.key", "  0011223344556677 8899aabbccddeeff  \n", 0400);
  auto t2 = CardTokenizer::from_key_file(spaced);
  ASSERT_TRUE(t2.ok()) << t2.error().message;
  EXPECT_EQ(t2->token("11010519491231002X"), kCliVector);
}

TEST(CardTokenizerKeyFile, RefusesAMissingFile) {
  TempDir dir;
  auto t = CardTokenizer::from_key_file((dir.path() / "absent.key").string());
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().code, "hmac_key");
  EXPECT_NE(t.error().message.find("absent.key"), std::string::npos);
}

TEST(CardTokenizerKeyFile, RefusesFilesOthersCanAccess) {
  TempDir dir;
  const std::string key = "00112233445566778899aabbccddeeff";
  for (mode_t mode : {mode_t{0640}, mode_t{0604}, mode_t{0660}, mode_t{0644}, mode_t{0610}}) {
    auto t = CardTokenizer::from_key_file(dir.write("hmac.key", key, mode));
    ASSERT_FALSE(t.ok()) << std::oct << mode;
    EXPECT_EQ(t.error().code, "hmac_key");
    EXPECT_NE(t.error().message.find("chmod 600"), std::string::npos) << t.error().message;
  }
}

TEST(CardTokenizerKeyFile, RefusesNonHexContent) {
  TempDir dir;
  auto t =
      CardTokenizer::from_key_file(dir.write("hmac.key", "00112233445566778899aabbccddeefg", 0600));
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("hex digits only"), std::string::npos) << t.error().message;
}

TEST(CardTokenizerKeyFile, RefusesShortOrOddKeys) {
  TempDir dir;
  for (const char* text :
       {"", "00112233445566778899aabbccddee", "00112233445566778899aabbccddeef"}) {
    auto t = CardTokenizer::from_key_file(dir.write("hmac.key", text, 0600));
    ASSERT_FALSE(t.ok()) << '"' << text << '"';
    EXPECT_NE(t.error().message.find("at least 32 hex digits"), std::string::npos)
        << t.error().message;
  }
}

TEST(MaskCardNumber, EighteenCharactersKeepSixAndFour) {
  EXPECT_EQ(mask_card_number("500156199001011234"), "500156********1234");
  EXPECT_EQ(mask_card_number("11010519491231002X"), "110105********002X");
}

TEST(MaskCardNumber, SixteenCharactersKeepSixAndFour) {
  EXPECT_EQ(mask_card_number("6222021234567890"), "622202******7890");
}

TEST(MaskCardNumber, TwelveCharactersKeepThreeAndTwo) {
  EXPECT_EQ(mask_card_number("123456789012"), "123*******12");
}

TEST(MaskCardNumber, NineCharactersKeepOnlyTheLast) {
  EXPECT_EQ(mask_card_number("123456789"), "********9");
}

TEST(MaskCardNumber, ThreeCharactersRevealNothing) {
  EXPECT_EQ(mask_card_number("123"), "***");
  EXPECT_EQ(mask_card_number(""), "");
}

TEST(MaskCardNumber, NeverRevealsMoreThanTheDocumentedParts) {
  const std::string digits = "98765432109876543210987654321098";
  for (std::size_t n = 0; n <= digits.size(); ++n) {
    const std::string card = digits.substr(0, n);
    const std::string m = mask_card_number(card);
    ASSERT_EQ(m.size(), n);
    const std::size_t head = n >= 16 ? 6 : n >= 10 ? 3 : 0;
    const std::size_t tail = n >= 16 ? 4 : n >= 10 ? 2 : n >= 4 ? 1 : 0;
    EXPECT_EQ(m.substr(0, head), card.substr(0, head)) << n;
    EXPECT_EQ(m.substr(n - tail), card.substr(n - tail)) << n;
    EXPECT_EQ(m.substr(head, n - head - tail), std::string(n - head - tail, '*')) << n;
  }
}

}  // namespace
}  // namespace yktgw
