#include "gateway/credentials/card_decoder.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/gateway/credentials/test_support.h"

namespace yktgw {
namespace {

using testing::kNowMs;

CardTokenizer tokenizer() {
  auto t = CardTokenizer::create("0123456789abcdef0123456789abcdef");
  EXPECT_TRUE(t);
  return std::move(t).value();
}

class CardDecoderTest : public ::testing::Test {
 protected:
  CardDecoderTest() : tok_(tokenizer()), decoder_(tok_, mac_keys()) {}

  static TerminalMacKeys mac_keys() {
    TerminalMacKeys keys;
    EXPECT_TRUE(keys.add("ct-0001", std::string(16, '\x42')));
    return keys;
  }

  static AuthRequest request(std::string card_no) {
    AuthRequest r;
    r.req_id = "r-1";
    r.terminal = "ct-0001";
    r.scenario = "canteen";
    r.ts_ms = kNowMs;
    r.credential.type = CredentialType::card;
    r.credential.card_no = std::move(card_no);
    r.amount_fen = 1200;
    return r;
  }

  // Decodes as the gateway would: canonical form from the request, MAC from its credential.
  DecodedCredential decode(const AuthRequest& r, bool mac_required = false) const {
    const std::string canonical = mac_canonical_form(r);
    DecodeContext ctx;
    ctx.terminal = r.terminal;
    ctx.now_ms = kNowMs;
    ctx.mac_input = canonical;
    ctx.mac_required = mac_required;
    return decoder_.decode(r.credential, ctx);
  }

  std::string mac_for(const AuthRequest& r) const {
    return decoder_.mac_keys().compute(r.terminal, mac_canonical_form(r));
  }

  CardTokenizer tok_;
  CardDecoder decoder_;
};

TEST_F(CardDecoderTest, CitizenNumberGivesTokenMaskRegionAndBirth) {
  const auto d = decode(request("500156195301011239"));
  EXPECT_EQ(d.reason, Reason::ok);
  EXPECT_EQ(d.holder.token, tok_.token("500156195301011239"));
  EXPECT_EQ(d.holder.token.size(), 64u);
  EXPECT_EQ(d.holder.masked, "500156********1239");
  EXPECT_EQ(d.holder.region, 50);
  EXPECT_EQ(d.holder.birth, (BirthDate{1953, 1, 1}));
  EXPECT_EQ(d.holder.attributes, 0u);
  EXPECT_FALSE(decoder_.expensive());
  EXPECT_EQ(decoder_.type(), CredentialType::card);
}

TEST_F(CardDecoderTest, LowerCaseXIsTheSameCard) {
  const auto upper = decode(request("11010519491231002X"));
  const auto lower = decode(request("11010519491231002x"));
  ASSERT_EQ(upper.reason, Reason::ok);
  EXPECT_EQ(lower, upper);
  EXPECT_EQ(lower.holder.masked, "110105********002X");
}

TEST_F(CardDecoderTest, SerialHasNoRegionOrBirth) {
  const auto d = decode(request("1234567890"));
  EXPECT_EQ(d.reason, Reason::ok);
  EXPECT_EQ(d.holder.token, tok_.token("1234567890"));
  EXPECT_EQ(d.holder.masked, "123*****90");
  EXPECT_EQ(d.holder.region, 0);
  EXPECT_FALSE(d.holder.birth.known());
}

TEST_F(CardDecoderTest, InvalidNumbersAreDeclinedWithoutAHolder) {
  for (const char* n : {"500156195301011238", "500156202511300015", "1234567", "", "abc"}) {
    const auto d = decode(request(n));
    EXPECT_EQ(d.reason, Reason::invalid_card_no) << n;
    EXPECT_EQ(d.holder, Holder{}) << n;
  }
}

TEST_F(CardDecoderTest, MacVerdicts) {
  AuthRequest r = request("500156195301011239");
  // Optional and absent.
  EXPECT_EQ(decode(r).reason, Reason::ok);
  // Required and absent.
  EXPECT_EQ(decode(r, true).reason, Reason::mac_required);
  // Present and right.
  r.credential.mac = mac_for(r);
  EXPECT_EQ(decode(r, true).reason, Reason::ok);
  EXPECT_EQ(decode(r, false).reason, Reason::ok);
  // Present and wrong: the amount was changed after the MAC was made.
  AuthRequest tampered = r;
  tampered.amount_fen = 1;
  EXPECT_EQ(decode(tampered).reason, Reason::bad_mac);
  // Present, but this terminal has no key.
  AuthRequest other = r;
  other.terminal = "ct-0404";
  EXPECT_EQ(decode(other).reason, Reason::bad_mac);
}

TEST_F(CardDecoderTest, MacIsCheckedBeforeTheNumber) {
  AuthRequest r = request("500156195301011238");  // bad check digit
  EXPECT_EQ(decode(r, true).reason, Reason::mac_required);
  r.credential.mac = std::string(64, '0');
  EXPECT_EQ(decode(r).reason, Reason::bad_mac);
  r.credential.mac = mac_for(r);
  EXPECT_EQ(decode(r).reason, Reason::invalid_card_no);
}

}  // namespace
}  // namespace yktgw
