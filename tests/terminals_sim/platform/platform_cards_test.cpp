#include "terminals_sim/platform/platform_cards.h"

#include <gtest/gtest.h>

#include <map>

#include "gateway/core/reason.h"

namespace yktgw::platform {
namespace {

CardTokenizer tokenizer() { return std::move(CardTokenizer::create(std::string(32, 'k')).value()); }

class PlatformCardsTest : public ::testing::Test {
 protected:
  PlatformCardsTest()
      : tok_(tokenizer()),
        population_(sim::generate_population(42, 500)),
        cards_(population_, tok_, 42, 1'000) {}

  OnlineAuthRequest request_for(const sim::Card& card, Fen amount = 800) const {
    OnlineAuthRequest r;
    r.card_token = tok_.token(card.card_no);
    r.amount_fen = amount;
    return r;
  }

  CardTokenizer tok_;
  sim::Population population_;
  PlatformCards cards_;
};

// Table-driven: every status the population has, with the answer the platform must give.
TEST_F(PlatformCardsTest, DecidesFromTheStatus) {
  const std::map<sim::CardStatus, OnlineAuthReply> expected = {
      {sim::CardStatus::active, {Decision::approve, "ok", 800}},
      {sim::CardStatus::lost, {Decision::decline, "card_lost", 0}},
      {sim::CardStatus::frozen, {Decision::decline, "card_frozen", 0}},
      {sim::CardStatus::cancelled, {Decision::decline, "card_cancelled", 0}},
      {sim::CardStatus::unknown, {Decision::decline, "unknown_card", 0}},
  };
  std::map<sim::CardStatus, int> seen;
  for (const sim::Card& card : population_) {
    SCOPED_TRACE(std::string(sim::to_string(card.status)));
    EXPECT_EQ(cards_.decide(request_for(card)), expected.at(card.status));
    ++seen[card.status];
  }
  EXPECT_EQ(seen.size(), expected.size()) << "the population should have every status";
}

TEST_F(PlatformCardsTest, AgreesWithTheSimulatorsExpectations) {
  // yktgw-sim predicts the gateway's answer per status; the platform must say the same.
  for (const sim::Card& card : population_) {
    const auto expect = sim::expected_outcome(card.status);
    const auto reply = cards_.decide(request_for(card));
    EXPECT_EQ(reply.decision, expect.decision);
    EXPECT_EQ(reply.reason, reason_code(expect.reason));
  }
}

TEST_F(PlatformCardsTest, EchoesTheAmountOnApproval) {
  for (const sim::Card& card : population_) {
    if (card.status != sim::CardStatus::active) continue;
    EXPECT_EQ(cards_.decide(request_for(card, 0)).amount_fen, 0);
    EXPECT_EQ(cards_.decide(request_for(card, 123'456)).amount_fen, 123'456);
    break;
  }
}

TEST_F(PlatformCardsTest, TokensNotOnTheListAreUnknown) {
  OnlineAuthRequest r;
  r.card_token = std::string(64, 'f');
  EXPECT_EQ(cards_.decide(r).reason, "unknown_card");
  r.card_token = "";
  EXPECT_EQ(cards_.decide(r).reason, "unknown_card");
  r.card_token = population_[0].card_no;  // a number is not a token
  EXPECT_EQ(cards_.decide(r).reason, "unknown_card");
}

TEST_F(PlatformCardsTest, SnapshotIsTheListSortedByToken) {
  std::int64_t version = 0;
  const auto snap = cards_.snapshot(version);
  EXPECT_EQ(version, 1);
  EXPECT_EQ(cards_.version(), 1);
  EXPECT_EQ(cards_.created_ms(1), 1'000);
  std::size_t listed = 0;
  for (const sim::Card& c : population_) listed += c.status != sim::CardStatus::unknown;
  EXPECT_EQ(snap.size(), listed);
  EXPECT_EQ(cards_.listed(), listed);
  EXPECT_EQ(cards_.population(), population_.size());
  for (std::size_t i = 1; i < snap.size(); ++i) EXPECT_LT(snap[i - 1].token, snap[i].token);
  for (const CardChange& c : snap) EXPECT_TRUE(c.entry.has_value());
}

TEST_F(PlatformCardsTest, AdvanceMakesSmallDeterministicDeltas) {
  PlatformCards twin(population_, tok_, 42, 1'000);
  EXPECT_FALSE(cards_.delta(1));  // nothing after version 1 yet
  EXPECT_EQ(cards_.advance(2'000), 2);
  EXPECT_EQ(cards_.advance(3'000), 3);
  EXPECT_EQ(twin.advance(2'000), 2);
  EXPECT_EQ(cards_.version(), 3);
  EXPECT_EQ(cards_.created_ms(3), 3'000);
  ASSERT_TRUE(cards_.delta(1));
  ASSERT_TRUE(cards_.delta(2));
  EXPECT_FALSE(cards_.delta(3));
  EXPECT_FALSE(cards_.delta(0));
  EXPECT_EQ(*cards_.delta(1), *twin.delta(1));  // same seed, same history
  EXPECT_EQ(cards_.delta(1)->size(), 5u);

  // Every change is what the list now says, and answers follow it.
  const auto changes = cards_.delta(2).value();
  for (const CardChange& c : changes) {
    const auto hex = token_to_hex(c.token);
    EXPECT_EQ(cards_.find(hex), c.entry);
    OnlineAuthRequest r;
    r.card_token = hex;
    const auto reply = cards_.decide(r);
    if (!c.entry) {
      EXPECT_EQ(reply.reason, "unknown_card");
    } else if (c.entry->status == CardStatus::active) {
      EXPECT_EQ(reply.decision, Decision::approve);
    } else {
      EXPECT_EQ(reply.decision, Decision::decline);
    }
  }
}

TEST(SimulatedAttributes, AreTheSimulatorsHolderAttributes) {
  // The platform and yktgw-sim must agree on every holder, or gate decisions cannot be checked.
  const auto population = sim::generate_population(42, 500);
  for (const auto& card : population) {
    EXPECT_EQ(simulated_attributes(card.card_no), card.attributes) << card.card_no;
  }
  // Wulong, born 1950, sequence 000: local and (000 % 25 == 0) disabled.
  EXPECT_EQ(simulated_attributes("500156195001010001"), kAttrLocalResident | kAttrDisabled);
  // Sichuan, born 2008, sequence 021: a student.
  EXPECT_EQ(simulated_attributes("510104200801010211"),
            HolderAttributes{1} << (kFirstGroupBit + 1));
  EXPECT_EQ(platform_groups(),
            (std::vector<std::string>{"staff", "student", "site_worker", "resident"}));
}

}  // namespace
}  // namespace yktgw::platform
