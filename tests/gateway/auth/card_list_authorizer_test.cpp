#include "gateway/auth/card_list_authorizer.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace yktgw {
namespace {

// CardStatus names live with the card list store; the fake needs none of them.
class FakeCardList final : public CardList {
 public:
  std::optional<CardEntry> find(std::string_view token) const override {
    auto it = cards.find(std::string(token));
    if (it == cards.end()) return std::nullopt;
    return CardEntry{it->second, 0};
  }
  std::uint64_t size() const override { return cards.size(); }
  std::int64_t version() const override { return 1; }
  std::int64_t updated_ms() const override { return 0; }

  std::map<std::string, CardStatus, std::less<>> cards;
};

constexpr const char* kActive = "500156199001011234";
constexpr const char* kLost = "500156199001021235";
constexpr const char* kFrozen = "500156199001031236";
constexpr const char* kCancelled = "500156199001041237";
constexpr const char* kWithX = "11010519491231002X";
constexpr const char* kUnknown = "500156199001051238";

class CardListAuthorizerTest : public ::testing::Test {
 protected:
  CardListAuthorizerTest() : tok_(CardTokenizer::create("0123456789abcdef").value()) {
    list_.cards[tok_.token(kActive)] = CardStatus::active;
    list_.cards[tok_.token(kLost)] = CardStatus::lost;
    list_.cards[tok_.token(kFrozen)] = CardStatus::frozen;
    list_.cards[tok_.token(kCancelled)] = CardStatus::cancelled;
    list_.cards[tok_.token(kWithX)] = CardStatus::active;
  }

  static AuthRequest card_request(std::string card_no, Fen amount = 1200) {
    AuthRequest r;
    r.req_id = "r-0001";
    r.terminal = "ct-1";
    r.scenario = "canteen";
    r.ts_ms = 1718000000000;
    r.credential.type = CredentialType::card;
    r.credential.card_no = std::move(card_no);
    r.amount_fen = amount;
    return r;
  }

  AuthResponse decide(const AuthRequest& r) const { return authorizer_.decide(r); }

  CardTokenizer tok_;
  FakeCardList list_;
  CardListAuthorizer authorizer_{list_, tok_};
};

TEST_F(CardListAuthorizerTest, ActiveCardIsApprovedWithMaskedNumberAndAmount) {
  AuthResponse r = decide(card_request(kActive, 1200));
  EXPECT_EQ(r.req_id, "r-0001");
  EXPECT_EQ(r.decision, Decision::approve);
  EXPECT_EQ(r.reason, Reason::ok);
  EXPECT_EQ(r.mode, AuthMode::offline);
  EXPECT_EQ(r.amount_fen, 1200);
  EXPECT_EQ(r.card_masked, "500156********1234");
}

TEST_F(CardListAuthorizerTest, LowerCaseCheckDigitFindsTheSameCard) {
  AuthResponse r = decide(card_request("11010519491231002x"));
  EXPECT_EQ(r.decision, Decision::approve);
  EXPECT_EQ(r.reason, Reason::ok);
}

TEST_F(CardListAuthorizerTest, ListedButNotActiveIsDeclinedWithTheMatchingReason) {
  const std::pair<const char*, Reason> cases[] = {
      {kLost, Reason::card_lost},
      {kFrozen, Reason::card_frozen},
      {kCancelled, Reason::card_cancelled},
      {kUnknown, Reason::unknown_card},
  };
  for (const auto& [card, reason] : cases) {
    AuthResponse r = decide(card_request(card, 1200));
    EXPECT_EQ(r.decision, Decision::decline) << card;
    EXPECT_EQ(r.reason, reason) << card;
    EXPECT_EQ(r.amount_fen, 0) << card;
    EXPECT_EQ(r.req_id, "r-0001");
    // The card was read correctly, so the terminal may show which one it was.
    EXPECT_EQ(r.card_masked, mask_card_number(card)) << card;
  }
}

TEST_F(CardListAuthorizerTest, MalformedNumbersAreInvalidCardNo) {
  for (const char* card : {"", "1234567", "50015619900101123A", "5001561990010112345678",
                           "500156 199001011234", "X00156199001011234", "1234-5678"}) {
    AuthResponse r = decide(card_request(card));
    EXPECT_EQ(r.decision, Decision::decline) << card;
    EXPECT_EQ(r.reason, Reason::invalid_card_no) << card;
    EXPECT_EQ(r.amount_fen, 0) << card;
    EXPECT_TRUE(r.card_masked.empty()) << card;
  }
}

TEST_F(CardListAuthorizerTest, OtherMeansAreApproved) {
  AuthRequest req = card_request("");
  req.credential = Credential{};
  req.credential.type = CredentialType::other;
  req.credential.method = "cash";
  AuthResponse r = decide(req);
  EXPECT_EQ(r.decision, Decision::approve);
  EXPECT_EQ(r.reason, Reason::ok);
  EXPECT_EQ(r.amount_fen, 1200);
  EXPECT_TRUE(r.card_masked.empty());
}

TEST_F(CardListAuthorizerTest, QrCodesAreNotSupportedYet) {
  for (auto type : {CredentialType::ecard_qr, CredentialType::ykm_qr}) {
    AuthRequest req = card_request("");
    req.credential = Credential{};
    req.credential.type = type;
    req.credential.qr = "https://example.invalid/qr?c=1";
    AuthResponse r = decide(req);
    EXPECT_EQ(r.decision, Decision::decline);
    EXPECT_EQ(r.reason, Reason::credential_not_supported);
    EXPECT_EQ(r.amount_fen, 0);
  }
}

TEST_F(CardListAuthorizerTest, FollowsTheListAsItChanges) {
  EXPECT_EQ(decide(card_request(kActive)).decision, Decision::approve);
  list_.cards[tok_.token(kActive)] = CardStatus::lost;
  EXPECT_EQ(decide(card_request(kActive)).reason, Reason::card_lost);
  list_.cards.erase(tok_.token(kActive));
  EXPECT_EQ(decide(card_request(kActive)).reason, Reason::unknown_card);
}

TEST(IsPlausibleCardNumber, CitizenNumbers) {
  EXPECT_TRUE(is_plausible_card_number("500156199001011234"));
  EXPECT_TRUE(is_plausible_card_number("11010519491231002X"));
  EXPECT_TRUE(is_plausible_card_number("11010519491231002x"));
  EXPECT_FALSE(is_plausible_card_number("1101051949123100XX"));
  EXPECT_FALSE(is_plausible_card_number("X10105194912310021"));
  EXPECT_FALSE(is_plausible_card_number("11010519491231002Y"));
  EXPECT_FALSE(is_plausible_card_number("11010519491231002 "));
}

TEST(IsPlausibleCardNumber, SerialsOfEightToTwentyDigits) {
  EXPECT_FALSE(is_plausible_card_number(""));
  EXPECT_FALSE(is_plausible_card_number("1234567"));
  EXPECT_TRUE(is_plausible_card_number("12345678"));
  EXPECT_TRUE(is_plausible_card_number("1234567890123456"));
  EXPECT_TRUE(is_plausible_card_number("12345678901234567890"));
  EXPECT_FALSE(is_plausible_card_number("123456789012345678901"));
  // The check digit X belongs to 18-character numbers only.
  EXPECT_FALSE(is_plausible_card_number("1234567X"));
  EXPECT_FALSE(is_plausible_card_number("1234567890123456789X"));
  EXPECT_FALSE(is_plausible_card_number("1234 5678"));
  EXPECT_FALSE(is_plausible_card_number("+12345678"));
  EXPECT_FALSE(is_plausible_card_number("１２３４５６７８"));  // full-width digits
}

}  // namespace
}  // namespace yktgw
