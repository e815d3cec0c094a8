#include "terminals_sim/sim/terminal_kinds.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace yktgw::sim {
namespace {

TEST(TerminalKinds, EveryScenarioOfThePoliciesFileOnce) {
  std::set<std::string_view> names;
  std::set<std::string_view> prefixes;
  for (const auto& k : terminal_kinds()) {
    EXPECT_TRUE(names.insert(k.scenario).second) << k.scenario;
    EXPECT_TRUE(prefixes.insert(k.id_prefix).second) << k.id_prefix;
    const auto& c = k.credentials;
    EXPECT_EQ(c.card + c.ecard_qr + c.ykm_qr + c.other, 1000) << k.scenario;
    EXPECT_GE(k.amounts.max, k.amounts.min) << k.scenario;
  }
  EXPECT_EQ(names,
            (std::set<std::string_view>{"canteen", "canteen_campus", "gate_community",
                                        "gate_campus", "gate_site", "parking_entry", "parking_exit",
                                        "bus", "scenic", "library", "museum", "hotel", "clinic"}));
  EXPECT_EQ(find_terminal_kind("gate_site")->kind, "gate");
  EXPECT_EQ(find_terminal_kind("nope"), nullptr);
}

TEST(TerminalKinds, IdsFollowThePrefix) {
  EXPECT_EQ(terminal_id_for(*find_terminal_kind("canteen"), 0), "ct-0001");
  EXPECT_EQ(terminal_id_for(*find_terminal_kind("parking_exit"), 11), "pk-out-0012");
  EXPECT_EQ(terminal_id_for(*find_terminal_kind("canteen_campus"), 998), "xy-ct-0999");
}

TEST(Mix, ParsesCountsBareNamesAndRepeats) {
  auto mix = parse_mix("canteen:4,gate_campus:2,bus,canteen:1");
  ASSERT_TRUE(mix) << mix.error().message;
  ASSERT_EQ(mix->size(), 3u);
  EXPECT_EQ((*mix)[0].kind->scenario, "canteen");
  EXPECT_EQ((*mix)[0].count, 5);
  EXPECT_EQ((*mix)[1].count, 2);
  EXPECT_EQ((*mix)[2].kind->scenario, "bus");
  EXPECT_EQ((*mix)[2].count, 1);
  EXPECT_EQ(terminal_count(*mix), 8);
  EXPECT_EQ(to_string(*mix), "canteen:5,gate_campus:2,bus:1");
}

TEST(Mix, PresetsCoverTheirKinds) {
  auto township = parse_mix("township");
  ASSERT_TRUE(township);
  EXPECT_EQ(township->size(), terminal_kinds().size());  // every kind
  EXPECT_EQ(terminal_count(*township), 15);
  for (const char* p : {"campus", "transit", "tourism"}) {
    auto m = parse_mix(p);
    ASSERT_TRUE(m) << p;
    EXPECT_GT(terminal_count(*m), 0) << p;
  }
}

TEST(Mix, ErrorsNameThePart) {
  for (const char* bad : {"", "canteen:", "canteen:0", "canteen:1000", "canteen:2x", "canteen,,bus",
                          "canteen:-1", "kiosk:2", "canteen:999,canteen:1"}) {
    auto m = parse_mix(bad);
    ASSERT_FALSE(m) << bad;
    EXPECT_EQ(m.error().code, "invalid_mix") << bad;
  }
  auto m = parse_mix("kiosk:2");
  EXPECT_NE(m.error().message.find("'kiosk'"), std::string::npos) << m.error().message;
  EXPECT_NE(m.error().message.find("gate_site"), std::string::npos) << "lists the known kinds";
}

TEST(CardPicker, AudienceShareAndDeterminism) {
  const auto cards = generate_population(42, 4000);
  const CardPicker picker(cards);
  const auto& gate = *find_terminal_kind("gate_site");  // 85 % site workers
  std::mt19937_64 a(7);
  std::mt19937_64 b(7);
  int workers = 0;
  constexpr int kTaps = 20000;
  for (int i = 0; i < kTaps; ++i) {
    const auto x = picker.draw(gate, a);
    ASSERT_EQ(x, picker.draw(gate, b));
    if (cards[x].attributes & kGroupSiteWorker) ++workers;
  }
  // 85 % by the audience plus the workers among the other 15 % (a few per cent).
  EXPECT_NEAR(static_cast<double>(workers) / kTaps, 0.86, 0.02);
  EXPECT_FALSE(picker.audience(Audience::visitors).empty());
  for (auto i : picker.audience(Audience::visitors)) {
    EXPECT_FALSE(cards[i].card_no.starts_with("50"));
  }
}

TEST(CardPicker, AvoidsCardsInUse) {
  const auto cards = generate_population(1, 50);
  const CardPicker picker(cards);
  std::mt19937_64 rng(3);
  const auto& kind = *find_terminal_kind("bus");
  for (int i = 0; i < 200; ++i) {
    const auto x = picker.pick(kind, rng, [](std::size_t c) { return c % 2 == 0; });
    EXPECT_EQ(x % 2, 1u) << "an odd card is always found within 16 draws of 50 cards";
  }
}

TEST(Credentials, MixShares) {
  const CredentialMix mix{600, 250, 100, 50};
  std::mt19937_64 rng(11);
  std::map<CredentialType, int> by;
  constexpr int kTaps = 40000;
  for (int i = 0; i < kTaps; ++i) ++by[draw_credential(mix, rng)];
  EXPECT_NEAR(by[CredentialType::card] / double(kTaps), 0.60, 0.015);
  EXPECT_NEAR(by[CredentialType::ecard_qr] / double(kTaps), 0.25, 0.015);
  EXPECT_NEAR(by[CredentialType::ykm_qr] / double(kTaps), 0.10, 0.01);
  EXPECT_NEAR(by[CredentialType::other] / double(kTaps), 0.05, 0.01);
  EXPECT_EQ(draw_credential(CredentialMix{0, 0, 0, 0}, rng), CredentialType::card);
}

}  // namespace
}  // namespace yktgw::sim
