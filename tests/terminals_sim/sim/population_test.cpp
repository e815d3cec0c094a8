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
  EXPECT_EQ(cards[0].card_no, "500156198607120060");
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
    EXPECT_GE(year, 1931);
    EXPECT_LE(year, 2020);
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
  const auto cards = generate_population(42, 40000);
  std::map<CardStatus, int> chongqing;
  std::map<CardStatus, int> visitors;
  for (const auto& c : cards) ++(c.card_no.starts_with("50") ? chongqing : visitors)[c.status];
  double nc = 0;
  double nv = 0;
  for (const auto& [s, k] : chongqing) nc += k;
  for (const auto& [s, k] : visitors) nv += k;
  ASSERT_GT(nv, 2000);
  // Binomial standard deviation is at most 0.25 points for Chongqing (n ~ 36800) and about
  // 1.1 points for visitors (n ~ 3200); the tolerances are about 4 sigma.
  EXPECT_NEAR(chongqing[CardStatus::active] / nc, 0.88, 0.01);
  EXPECT_NEAR(chongqing[CardStatus::lost] / nc, 0.04, 0.006);
  EXPECT_NEAR(chongqing[CardStatus::frozen] / nc, 0.03, 0.006);
  EXPECT_NEAR(chongqing[CardStatus::cancelled] / nc, 0.02, 0.006);
  EXPECT_NEAR(chongqing[CardStatus::unknown] / nc, 0.03, 0.006);
  // Visitors' cards: mostly not on the district list.
  EXPECT_NEAR(visitors[CardStatus::unknown] / nv, 0.60, 0.04);
  EXPECT_NEAR(visitors[CardStatus::active] / nv, 0.35, 0.04);
  EXPECT_NEAR(visitors[CardStatus::lost] / nv, 0.03, 0.015);
  EXPECT_NEAR(visitors[CardStatus::frozen] / nv, 0.02, 0.012);
  EXPECT_EQ(visitors[CardStatus::cancelled], 0);
}

TEST(Population, AgeDistribution) {
  const auto cards = generate_population(5, 40000);
  std::map<int, int> band;  // first year of the band -> cards
  for (const auto& c : cards) {
    const int year = holder_birth(c.card_no).year;
    ASSERT_NE(year, 0) << c.card_no;
    const int first = year <= 1945   ? 1931
                      : year <= 1955 ? 1946
                      : year <= 1965 ? 1956
                      : year <= 1985 ? 1966
                      : year <= 2002 ? 1986
                      : year <= 2014 ? 2003
                                     : 2015;
    ++band[first];
  }
  const double n = static_cast<double>(cards.size());
  EXPECT_NEAR(band[1931] / n, 0.06, 0.01);
  EXPECT_NEAR(band[1946] / n, 0.09, 0.01);
  EXPECT_NEAR(band[1956] / n, 0.15, 0.01);
  EXPECT_NEAR(band[1966] / n, 0.28, 0.01);
  EXPECT_NEAR(band[1986] / n, 0.25, 0.01);
  EXPECT_NEAR(band[2003] / n, 0.13, 0.01);
  EXPECT_NEAR(band[2015] / n, 0.04, 0.01);
}

TEST(Population, AttributesFollowTheNumberAndCoverEveryGroup) {
  const auto cards = generate_population(42, 20000);
  std::map<std::string, int> by;
  for (const auto& c : cards) {
    ASSERT_EQ(c.attributes, holder_attributes(c.card_no)) << c.card_no;
    if (c.attributes & kAttrDisabled) ++by["disabled"];
    if (c.attributes & kAttrLocalResident) ++by["local"];
    if (c.attributes & kGroupStaff) ++by["staff"];
    if (c.attributes & kGroupStudent) ++by["student"];
    if (c.attributes & kGroupSiteWorker) ++by["site_worker"];
    if (c.attributes & kGroupResident) ++by["resident"];
    // Residents of the community pilot are Wulong holders.
    if (c.attributes & kGroupResident) {
      EXPECT_TRUE(c.card_no.starts_with("500156"));
    }
  }
  const double n = static_cast<double>(cards.size());
  EXPECT_NEAR(by["local"] / n, 0.80, 0.02);
  EXPECT_NEAR(by["resident"] / n, 0.64, 0.02);  // 4 in 5 Wulong holders
  EXPECT_NEAR(by["disabled"] / n, 0.04, 0.006);
  EXPECT_NEAR(by["student"] / n, 0.13, 0.01);
  EXPECT_GT(by["staff"], 400);
  EXPECT_GT(by["site_worker"], 400);
}

TEST(Population, HolderAttributesOfPinnedNumbers) {
  // Wulong, born 1950, sequence 000: local, disabled, not a resident (000 % 5 == 0).
  EXPECT_EQ(holder_attributes("500156195001010007"), kAttrLocalResident | kAttrDisabled);
  // Wulong, born 1980, sequence 021: local, staff, resident.
  EXPECT_EQ(holder_attributes("500156198001010211"),
            kAttrLocalResident | kGroupStaff | kGroupResident);
  // Sichuan, born 2008, sequence 021: a student; too young to be staff; not local.
  EXPECT_EQ(holder_attributes("510104200801010215"), kGroupStudent);
  // Guizhou, born 1990, sequence 002: a site worker (002 % 12 == 2).
  EXPECT_EQ(holder_attributes("520102199001010026"), kGroupSiteWorker);
  EXPECT_EQ(holder_groups(),
            (std::vector<std::string>{"staff", "student", "site_worker", "resident"}));
}

TEST(Population, RegionBirthAndAge) {
  EXPECT_EQ(issuer_region("54010219900101002X"), 54);
  EXPECT_EQ(issuer_region("x"), 0);
  EXPECT_EQ(holder_birth("500156200002290016"), (yktgw::BirthDate{2000, 2, 29}));
  EXPECT_EQ(holder_birth("500156200002300016"), yktgw::BirthDate{});  // no 30 February
  EXPECT_EQ(holder_birth("12345678"), yktgw::BirthDate{});
  const yktgw::BirthDate leap{2000, 2, 29};
  EXPECT_EQ(age_on(leap, 2026, 2, 28), 25);  // common year: the birthday is 1 March
  EXPECT_EQ(age_on(leap, 2026, 3, 1), 26);
  EXPECT_EQ(age_on(leap, 2028, 2, 29), 28);
  EXPECT_EQ(age_on(yktgw::BirthDate{}, 2026, 1, 1), -1);
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
  EXPECT_NEAR(by[CardStatus::active], 840, 45);  // 88 % of Chongqing, 35 % of visitors
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
