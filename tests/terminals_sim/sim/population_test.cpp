#include "terminals_sim/sim/population.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>

#include "terminals_sim/sim/citizen_id.h"

namespace yktgw::sim {
namespace {

TEST(Population, SameSeedSameCards) {
  const auto a = generate_population(42, 1000);
  const auto b = generate_population(42, 1000);
  ASSERT_EQ(a.size(), 1000u);
  EXPECT_EQ(a, b);
}

TEST(Population, LargerPopulationExtendsSmallerOne) {
  // Growing --cards keeps the existing cards, so a card list file stays valid for a subset.
  const auto small = generate_population(7, 100);
  const auto large = generate_population(7, 500);
  EXPECT_TRUE(std::equal(small.begin(), small.end(), large.begin()));
}

TEST(Population, DifferentSeedDifferentCards) {
  EXPECT_NE(generate_population(42, 100), generate_population(43, 100));
}

TEST(Population, PinnedFirstCardOfSeed42) {
  // Guards cross-machine determinism: a change here breaks card list files made earlier.
  const auto cards = generate_population(42, 1);
  ASSERT_EQ(cards.size(), 1u);
  EXPECT_EQ(cards[0].card_no, "500156196411137531");
}

TEST(Population, NumbersAreValidUniqueAndPlausible) {
  const auto cards = generate_population(1, 5000);
  std::set<std::string> seen;
  for (const auto& c : cards) {
    ASSERT_TRUE(is_valid_citizen_id(c.card_no)) << c.card_no;
    EXPECT_TRUE(seen.insert(c.card_no).second) << "duplicate " << c.card_no;
    const auto prefix = c.card_no.substr(0, 2);
    EXPECT_TRUE(prefix == "50" || prefix == "51" || prefix == "52" || prefix == "54") << c.card_no;
    const int year = std::stoi(c.card_no.substr(6, 4));
    const int month = std::stoi(c.card_no.substr(10, 2));
    const int day = std::stoi(c.card_no.substr(12, 2));
    EXPECT_GE(year, 1930);
    EXPECT_LE(year, 2015);
    ASSERT_GE(month, 1);
    ASSERT_LE(month, 12);
    EXPECT_GE(day, 1);
    EXPECT_LE(day, days_in_month(year, month));
    EXPECT_NE(c.card_no.substr(14, 3), "000");
  }
}

TEST(Population, RegionMix) {
  const auto cards = generate_population(3, 20000);
  std::map<std::string, int> by;
  for (const auto& c : cards) {
    const auto region = c.card_no.substr(0, 6);
    if (region == "500156") {
      ++by["wulong"];
    } else {
      ++by[c.card_no.substr(0, 2)];
    }
  }
  const double n = static_cast<double>(cards.size());
  EXPECT_NEAR(by["wulong"] / n, 0.80, 0.02);
  EXPECT_NEAR(by["50"] / n, 0.12, 0.015);
  EXPECT_GT(by["51"], 0);
  EXPECT_GT(by["52"], 0);
  EXPECT_GT(by["54"], 0);
}

TEST(Population, StatusMixWithinTolerance) {
  const auto cards = generate_population(42, 20000);
  std::map<CardStatus, int> by;
  for (const auto& c : cards) ++by[c.status];
  const double n = static_cast<double>(cards.size());
  // Binomial standard deviation at n=20000 is at most 0.23 percentage points; allow ~4 sigma.
  EXPECT_NEAR(by[CardStatus::active] / n, 0.88, 0.01);
  EXPECT_NEAR(by[CardStatus::lost] / n, 0.04, 0.006);
  EXPECT_NEAR(by[CardStatus::frozen] / n, 0.03, 0.006);
  EXPECT_NEAR(by[CardStatus::cancelled] / n, 0.02, 0.006);
  EXPECT_NEAR(by[CardStatus::unknown] / n, 0.03, 0.006);
}

TEST(Population, StatusMixOfDefaultPopulation) {
  // The default --cards 1000 must still hold every status, or some reason is never exercised.
  const auto cards = generate_population(42, 1000);
  std::map<CardStatus, int> by;
  for (const auto& c : cards) ++by[c.status];
  for (auto s : {CardStatus::active, CardStatus::lost, CardStatus::frozen, CardStatus::cancelled,
                 CardStatus::unknown}) {
    EXPECT_GT(by[s], 5) << to_string(s);
  }
  EXPECT_NEAR(by[CardStatus::active], 880, 40);
}

TEST(Population, ExpectedOutcomes) {
  EXPECT_EQ(expected_outcome(CardStatus::active), (Expectation{Decision::approve, Reason::ok}));
  EXPECT_EQ(expected_outcome(CardStatus::lost),
            (Expectation{Decision::decline, Reason::card_lost}));
  EXPECT_EQ(expected_outcome(CardStatus::frozen),
            (Expectation{Decision::decline, Reason::card_frozen}));
  EXPECT_EQ(expected_outcome(CardStatus::cancelled),
            (Expectation{Decision::decline, Reason::card_cancelled}));
  EXPECT_EQ(expected_outcome(CardStatus::unknown),
            (Expectation{Decision::decline, Reason::unknown_card}));
}

TEST(Population, StatusNamesRoundTrip) {
  for (auto s : {CardStatus::active, CardStatus::lost, CardStatus::frozen, CardStatus::cancelled,
                 CardStatus::unknown}) {
    EXPECT_EQ(card_status_from(to_string(s)), s);
  }
  EXPECT_EQ(card_status_from("Active"), std::nullopt);
}

TEST(CardListCsv, ExactFormat) {
  const Population cards{{"11010519491231002X", CardStatus::active},
                         {"440524188001010014", CardStatus::lost},
                         {"110101199003074477", CardStatus::unknown},
                         {"500156194802290374", CardStatus::frozen},
                         {"500156194802290382", CardStatus::cancelled}};
  std::ostringstream out;
  EXPECT_EQ(write_cardlist_csv(out, cards), 4u);
  EXPECT_EQ(out.str(),
            "card_no,status\n"
            "11010519491231002X,active\n"
            "440524188001010014,lost\n"
            "500156194802290374,frozen\n"
            "500156194802290382,cancelled\n");
}

TEST(CardListCsv, EmptyPopulationIsHeaderOnly) {
  std::ostringstream out;
  EXPECT_EQ(write_cardlist_csv(out, {}), 0u);
  EXPECT_EQ(out.str(), "card_no,status\n");
}

TEST(CardListCsv, ListsEveryKnownCardOnce) {
  const auto cards = generate_population(42, 1000);
  std::ostringstream out;
  const auto lines = write_cardlist_csv(out, cards);
  std::istringstream in(out.str());
  std::string line;
  std::getline(in, line);
  ASSERT_EQ(line, "card_no,status");
  std::size_t n = 0;
  std::size_t i = 0;
  while (std::getline(in, line)) {
    while (cards[i].status == CardStatus::unknown) ++i;
    EXPECT_EQ(line, cards[i].card_no + "," + std::string(to_string(cards[i].status)));
    ++i;
    ++n;
  }
  EXPECT_EQ(n, lines);
  std::size_t unknown = 0;
  for (const auto& c : cards) unknown += c.status == CardStatus::unknown;
  EXPECT_EQ(n + unknown, cards.size());
}

}  // namespace
}  // namespace yktgw::sim
