#include "terminals_sim/sim/expectation.h"

#include <gtest/gtest.h>

#include "terminals_sim/sim/terminal_kinds.h"

namespace yktgw::sim {
namespace {

// 2026-11-29 00:00 in Shanghai (16:00 UTC the day before).
constexpr UtcMillis kMidnight = 1'795'881'600'000;
constexpr UtcMillis kMinute = 60'000;
constexpr UtcMillis at(int hour, int minute) { return kMidnight + (hour * 60 + minute) * kMinute; }
constexpr UtcMillis kNoon = at(12, 0);

const std::string kPolicies = R"(version = 1
[scenario.canteen]
kind = "canteen"
service_item = 16
online = "prefer"

[scenario.canteen_campus]
kind = "canteen"
service_item = 9
daily_meal_cap = 0

[scenario.gate_campus]
kind = "gate"
service_item = 9
allowed_groups = ["staff", "student"]
hours = ["06:00-23:00"]

[scenario.gate_night]
kind = "gate"
service_item = 16
allowed_groups = ["disabled"]
hours = ["22:00-06:00"]

[scenario.parking_entry]
kind = "parking"
service_item = 16
lot = "a"
side = "entry"

[scenario.parking_exit]
kind = "parking"
service_item = 16
lot = "a"
side = "exit"

[scenario.bus]
kind = "bus"
service_item = 29
online = "prefer"
unknown_card_regions_allowed = [51, 52, 54]
fare_fen = 200
offline_limit_fen = 500
offline_daily_cap_fen = 1000
offline_max_taps = 3

[scenario.hotel]
kind = "hotel"
service_item = 11
unknown_card = "allow"

[scenario.clinic]
kind = "clinic"
service_item = 40

[[terminal]]
match = "ct-*"
scenario = "canteen"
[[terminal]]
match = "xy-ct-*"
scenario = "canteen_campus"
[[terminal]]
match = "ct-9"
scenario = "hotel"
[[terminal]]
match = "*"
scenario = "bus"
)";

// 0: active Wulong staff; 1: lost; 2: unknown Sichuan student; 3: unknown Chongqing;
// 4: active, no groups; 5: disabled, active.
Population cards() {
  return {{"500156198001010211", CardStatus::active, kAttrLocalResident | kGroupStaff},
          {"500156195001010007", CardStatus::lost, kAttrLocalResident},
          {"510104200801010215", CardStatus::unknown, kGroupStudent},
          {"500101199001010011", CardStatus::unknown, 0},
          {"500101199001010038", CardStatus::active, 0},
          {"500101199001010050", CardStatus::active, kAttrDisabled}};
}

class ExpectationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = PolicyModel::parse(kPolicies, "policies.toml", holder_groups());
    ASSERT_TRUE(m) << m.error().message;
    policy_ = std::move(*m);
  }
  TapFacts tap(std::string_view scenario, std::uint32_t card,
               CredentialType type = CredentialType::card, bool online = false) const {
    return TapFacts{policy_.find(scenario), card, type, online};
  }
  Expected expect(const TapFacts& t, UtcMillis when = kNoon) const {
    return model_.expect(t, when, when + 5);
  }

  Population cards_ = cards();
  PolicyModel policy_;
  ExpectationModel model_{cards_};
};

const Expected kApprove{Decision::approve, Reason::ok, true};
Expected declined(Reason r) { return Expected{Decision::decline, r, true}; }

TEST_F(ExpectationTest, TerminalsExactFirstThenPatternsInFileOrder) {
  EXPECT_EQ(policy_.size(), 9u);
  EXPECT_EQ(policy_.for_terminal("ct-9")->name, "hotel");
  EXPECT_EQ(policy_.for_terminal("ct-0001")->name, "canteen");
  EXPECT_EQ(policy_.for_terminal("xy-ct-0001")->name, "canteen_campus");
  EXPECT_EQ(policy_.for_terminal("anything")->name, "bus");
  EXPECT_TRUE(glob_matches("a?c*", "abcdef"));
  EXPECT_FALSE(glob_matches("a?c", "abcd"));
  EXPECT_TRUE(glob_matches("*", ""));
}

TEST_F(ExpectationTest, UnassignedMismatchedDenyListedAndOther) {
  EXPECT_EQ(expect(TapFacts{nullptr, 0}), declined(Reason::unknown_terminal));
  TapFacts wrong = tap("bus", 0);
  wrong.scenario_matches = false;
  EXPECT_EQ(expect(wrong), declined(Reason::scenario_mismatch));
  for (const char* s : {"canteen", "gate_campus", "bus", "hotel", "clinic"}) {
    EXPECT_EQ(expect(tap(s, 1)), declined(Reason::card_lost)) << s;
    EXPECT_EQ(expect(tap(s, 1, CredentialType::ecard_qr)), declined(Reason::card_lost)) << s;
  }
  // Cash is recorded, not decided, even for a lost card's holder.
  EXPECT_EQ(expect(tap("clinic", 1, CredentialType::other)), kApprove);
}

TEST_F(ExpectationTest, GateGroupsHoursAndTheAttributesACardCarries) {
  EXPECT_EQ(expect(tap("gate_campus", 0)), kApprove);
  EXPECT_EQ(expect(tap("gate_campus", 4)), declined(Reason::group_not_allowed));
  EXPECT_EQ(expect(tap("gate_campus", 0), at(5, 59)), declined(Reason::outside_hours));
  EXPECT_EQ(expect(tap("gate_campus", 0), at(23, 0)), declined(Reason::outside_hours));
  // An unlisted student: a card brings no groups; a QR code brings its own, and then the gate
  // (never online) declines the unknown card.
  EXPECT_EQ(expect(tap("gate_campus", 2)), declined(Reason::group_not_allowed));
  EXPECT_EQ(expect(tap("gate_campus", 2, CredentialType::ecard_qr)),
            declined(Reason::unknown_card));
  // A window across midnight, and the fixed "disabled" group.
  EXPECT_EQ(expect(tap("gate_night", 5), at(23, 30)), kApprove);
  EXPECT_EQ(expect(tap("gate_night", 5), at(5, 0)), kApprove);
  EXPECT_EQ(expect(tap("gate_night", 5), at(12, 0)), declined(Reason::outside_hours));
}

TEST_F(ExpectationTest, ABoundaryBetweenSendAndAnswerIsNotCalled) {
  const auto e = model_.expect(tap("gate_campus", 0), at(6, 0) - 10, at(6, 0) + 10);
  EXPECT_FALSE(e.certain);
  EXPECT_TRUE(model_.expect(tap("gate_campus", 0), at(6, 0), at(6, 0) + 10).certain);
}

TEST_F(ExpectationTest, MealCapSharedByCanteensAndResetAtShanghaiMidnight) {
  const auto ct = tap("canteen", 0);
  const auto campus = tap("canteen_campus", 0);
  EXPECT_EQ(expect(ct), kApprove);
  model_.record(ct, Decision::approve, kNoon);
  EXPECT_EQ(expect(campus), kApprove);  // no cap of its own, but the meal counts
  model_.record(campus, Decision::approve, kNoon);
  EXPECT_EQ(expect(ct), declined(Reason::daily_cap_reached));
  EXPECT_EQ(expect(campus), kApprove);
  // The cap is checked before the platform is asked.
  EXPECT_EQ(expect(tap("canteen", 0, CredentialType::card, true)),
            declined(Reason::daily_cap_reached));
  EXPECT_EQ(expect(ct, kMidnight + 24 * 60 * kMinute), kApprove);
  // A decline does not count.
  model_.record(tap("canteen", 4), Decision::decline, kNoon);
  EXPECT_EQ(expect(tap("canteen", 4)), kApprove);
}

TEST_F(ExpectationTest, PlatformDecidesUnknownCardsOnlineOfflineRulesOtherwise) {
  // Online: the platform does not know unlisted cards, whatever their region.
  EXPECT_EQ(expect(tap("bus", 2, CredentialType::card, true)), declined(Reason::unknown_card));
  EXPECT_EQ(expect(tap("bus", 0, CredentialType::card, true)), kApprove);
  // Offline: Sichuan is allowed on the bus, another Chongqing district's unlisted card is not.
  EXPECT_EQ(expect(tap("bus", 2)), kApprove);
  EXPECT_EQ(expect(tap("bus", 3)), declined(Reason::unknown_card));
  EXPECT_EQ(expect(tap("hotel", 3)), kApprove);  // unknown_card = "allow"
  EXPECT_EQ(expect(tap("canteen", 3)), declined(Reason::unknown_card));
  // The clinic is online only (its default).
  EXPECT_EQ(expect(tap("clinic", 0)), declined(Reason::online_required));
  EXPECT_EQ(expect(tap("clinic", 0, CredentialType::ykm_qr, true)), kApprove);
}

TEST_F(ExpectationTest, BusOfflineTapsAndAmountUntilThePlatformAnswers) {
  const auto off = tap("bus", 0);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(expect(off), kApprove) << i;
    model_.record(off, Decision::approve, kNoon);
  }
  EXPECT_EQ(expect(off), declined(Reason::offline_tap_cap_reached));
  // A platform answer restarts the run of offline taps, not the day's amount.
  model_.record(tap("bus", 0, CredentialType::card, true), Decision::approve, kNoon);
  EXPECT_EQ(expect(off), kApprove);
  model_.record(off, Decision::approve, kNoon);
  EXPECT_EQ(expect(off), kApprove);  // 800 of 1000 fen
  model_.record(off, Decision::approve, kNoon);
  EXPECT_EQ(expect(off), declined(Reason::offline_daily_cap_reached));  // 1000 + 200 > 1000
  model_.record(off, Decision::decline, kNoon);
  // Both limits at once: the documentation does not say which one is reported.
  for (int i = 0; i < 2; ++i) model_.record(tap("bus", 4), Decision::approve, kNoon);
  model_.record(tap("bus", 4, CredentialType::card, true), Decision::approve, kNoon);
  for (int i = 0; i < 3; ++i) model_.record(tap("bus", 4), Decision::approve, kNoon);
  // 1000 fen taken and 3 taps since the platform's answer.
  EXPECT_FALSE(expect(tap("bus", 4)).certain);
}

TEST_F(ExpectationTest, ParkingExitNeedsAnEntryUnlessMaxFee) {
  EXPECT_EQ(expect(tap("parking_exit", 0)), declined(Reason::no_entry_record));
  EXPECT_EQ(expect(tap("parking_entry", 0)), kApprove);
  model_.record(tap("parking_entry", 0), Decision::approve, kNoon);
  EXPECT_EQ(model_.parked("a"), (std::vector<std::uint32_t>{0}));
  EXPECT_EQ(expect(tap("parking_exit", 0)), kApprove);
  model_.record(tap("parking_exit", 0), Decision::approve, kNoon);
  EXPECT_TRUE(model_.parked("a").empty());
  EXPECT_EQ(expect(tap("parking_exit", 0)), declined(Reason::no_entry_record));
}

TEST_F(ExpectationTest, ShanghaiClock) {
  const auto c = shanghai_clock(kMidnight);
  EXPECT_EQ(c.minute, 0);
  EXPECT_EQ(shanghai_clock(kMidnight - 1).minute, 1439);
  EXPECT_EQ(shanghai_clock(kMidnight - 1).day, c.day - 1);
  EXPECT_EQ(shanghai_clock(at(13, 45)).minute, 13 * 60 + 45);
}

TEST(PolicyModel, ErrorsNameTheFile) {
  auto bad = PolicyModel::parse(
      "version = 1\n[scenario.g]\nkind = \"gate\"\n"
      "allowed_groups = [\"pilots\"]\n",
      "p.toml", holder_groups());
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("p.toml"), std::string::npos);
  EXPECT_NE(bad.error().message.find("pilots"), std::string::npos);
  EXPECT_FALSE(PolicyModel::parse("version = [", "p.toml", holder_groups()));
  EXPECT_FALSE(PolicyModel::load("/nonexistent/policies.toml", holder_groups()));
}

TEST(PolicyModel, TheShippedFileMapsEveryTerminalKindToItsScenario) {
  auto m =
      PolicyModel::load(std::string(YKTGW_SOURCE_DIR) + "/config/policies.toml", holder_groups());
  ASSERT_TRUE(m) << m.error().message;
  for (const auto& kind : terminal_kinds()) {
    const std::string id = terminal_id_for(kind, 0);
    const ScenarioModel* s = m->for_terminal(id);
    ASSERT_NE(s, nullptr) << id;
    EXPECT_EQ(s->name, kind.scenario) << id;
    EXPECT_EQ(s->kind, kind.kind) << id;
  }
  EXPECT_EQ(m->for_terminal("sim-0001")->name, "canteen_campus");
  EXPECT_EQ(m->find("clinic")->online, OnlineRule::required);
  EXPECT_TRUE(m->find("parking_exit")->no_entry_max_fee);
  EXPECT_EQ(m->find("gate_community")->allowed, kGroupResident);
  EXPECT_EQ(m->find("bus")->service_item, 29);
  EXPECT_EQ(m->find("gate_site")->service_item, 5);
}

}  // namespace
}  // namespace yktgw::sim
