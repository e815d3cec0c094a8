#include "gateway/policy/policy_authorizer.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <random>
#include <set>
#include <sstream>

#include "gateway/policy/attendance.h"
#include "tests/gateway/policy/engine_setup.h"
#include "tests/gateway/policy/fakes.h"

namespace yktgw {
namespace {

using namespace std::chrono_literals;
using testing::FakeCardList;
using testing::FakeClock;
using testing::FakeDecoder;
using testing::FakeLink;
using testing::FakeOnlineClient;
using testing::FakeRecordStore;
using testing::kDefaultGroups;
using testing::kResident;
using testing::kSiteWorker;
using testing::kStaff;
using testing::kStudent;
using testing::shanghai_ms;

// "Today" in these tests: Wednesday 2025-06-11, Asia/Shanghai.
constexpr UtcMillis kNoon = shanghai_ms(2025, 6, 11, 12, 0);
constexpr std::int64_t kMinute = 60'000;
constexpr std::int64_t kHour = 60 * kMinute;

constexpr const char* kPolicies = R"toml(
version = 1

[scenario.canteen]
kind = "canteen"
service_item = 16
daily_meal_cap = 2
tiers = [
  { min_age = 60, percent_off = 10 },
  { min_age = 70, percent_off = 30 },
  { min_age = 80, percent_off = 100 },
]

[scenario.canteen_online]
kind = "canteen"
service_item = 16
online = "prefer"
online_deadline_ms = 120
daily_meal_cap = 2

[scenario.canteen_stale]
kind = "canteen"
service_item = 16
stale_offline_limit_fen = 500
daily_meal_cap = 0

[scenario.gate_site]
kind = "gate"
service_item = 5
allowed_groups = ["site_worker"]
hours = ["06:00-20:00"]
clock_in = true
require_mac = true

[scenario.gate_campus]
kind = "gate"
service_item = 9
allowed_groups = ["staff", "student", "disabled"]

[scenario.gate_night]
kind = "gate"
service_item = 16
hours = ["22:00-06:00"]

[scenario.parking_in]
kind = "parking"
service_item = 16
lot = "p1"
side = "entry"

[scenario.parking_out]
kind = "parking"
service_item = 16
lot = "p1"
side = "exit"
free_minutes = 15
unit_minutes = 60
unit_fee_fen = 200
daily_cap_fen = 2000
no_entry = "decline"

[scenario.parking_in2]
kind = "parking"
service_item = 16
lot = "p2"
side = "entry"

[scenario.parking_out2]
kind = "parking"
service_item = 16
lot = "p2"
side = "exit"
daily_cap_fen = 1500
no_entry = "max_fee"

[scenario.bus]
kind = "bus"
service_item = 29
online = "prefer"
fare_fen = 200
offline_limit_fen = 300
offline_daily_cap_fen = 500
offline_max_taps = 10
unknown_card_regions_allowed = [51]

[scenario.bus_taps]
kind = "bus"
service_item = 29
offline_limit_fen = 300
offline_daily_cap_fen = 100000
offline_max_taps = 2

[scenario.scenic]
kind = "scenic"
service_item = 32
local_regions = []
tiers = [{ min_age = 60, percent_off = 50 }]

[scenario.scenic_region]
kind = "scenic"
service_item = 32
price_fen = 6000
local_regions = [50]

[scenario.library]
kind = "library"
service_item = 30

[scenario.museum]
kind = "museum"
service_item = 31

[scenario.hotel]
kind = "hotel"
service_item = 11
unknown_card = "allow"

[scenario.clinic]
kind = "clinic"
service_item = 40

[[terminal]]
match = "ct-1"
scenario = "canteen"
[[terminal]]
match = "cto-*"
scenario = "canteen_online"
[[terminal]]
match = "cts-*"
scenario = "canteen_stale"
[[terminal]]
match = "site-*"
scenario = "gate_site"
[[terminal]]
match = "campus-*"
scenario = "gate_campus"
[[terminal]]
match = "night-*"
scenario = "gate_night"
[[terminal]]
match = "pin-*"
scenario = "parking_in"
[[terminal]]
match = "pout-*"
scenario = "parking_out"
[[terminal]]
match = "pin2-*"
scenario = "parking_in2"
[[terminal]]
match = "pout2-*"
scenario = "parking_out2"
[[terminal]]
match = "bus-*"
scenario = "bus"
[[terminal]]
match = "bust-*"
scenario = "bus_taps"
[[terminal]]
match = "scenic-*"
scenario = "scenic"
[[terminal]]
match = "scenicr-*"
scenario = "scenic_region"
[[terminal]]
match = "lib-*"
scenario = "library"
[[terminal]]
match = "mus-*"
scenario = "museum"
[[terminal]]
match = "hotel-*"
scenario = "hotel"
[[terminal]]
match = "med-*"
scenario = "clinic"
)toml";

struct CardSpec {
  std::string id;
  IssuerRegion region = 50;
  BirthDate birth{1995, 1, 1};
  std::optional<CardStatus> status = CardStatus::active;  // nullopt: not on the list
  HolderAttributes list_attrs = 0;
  HolderAttributes credential_attrs = 0;
};

const std::vector<CardSpec>& cards() {
  static const std::vector<CardSpec> c = {
      {"adult"},
      {"age61", 50, {1964, 3, 1}},
      {"age72", 50, {1953, 5, 5}},
      {"age85", 50, {1940, 1, 1}},
      {"age65", 50, {1960, 6, 11}},  // 65th birthday today
      {"age64", 50, {1960, 6, 12}},  // 65 tomorrow
      {"nobirth", 50, {}},
      {"disabled", 50, {1995, 1, 1}, CardStatus::active, kAttrDisabled},
      {"local", 50, {1995, 1, 1}, CardStatus::active, kAttrLocalResident},
      {"resident", 50, {1995, 1, 1}, CardStatus::active, kResident},
      {"staff", 50, {1995, 1, 1}, CardStatus::active, kStaff},
      {"worker", 50, {1995, 1, 1}, CardStatus::active, kSiteWorker},
      {"qrstudent", 50, {1995, 1, 1}, CardStatus::active, 0, kStudent},
      {"lost", 50, {1995, 1, 1}, CardStatus::lost},
      {"frozen", 50, {1995, 1, 1}, CardStatus::frozen},
      {"cancelled", 50, {1995, 1, 1}, CardStatus::cancelled},
      {"unknown50", 50, {1995, 1, 1}, std::nullopt},
      {"sichuan", 51, {1995, 1, 1}, std::nullopt},
      {"tibet", 54, {1995, 1, 1}, std::nullopt},
  };
  return c;
}

std::string token_of(const std::string& id) { return "tok-" + id; }

// The engine with fakes around it. Decisions are waited for, whichever thread answers.
class Harness {
 public:
  // `file_path` set: the policies are written there and loaded as a file (reload tests).
  explicit Harness(const std::string& policies = kPolicies, PolicyAuthorizer::Options options = {},
                   std::size_t pool_capacity = 64, const std::string& file_path = {},
                   std::shared_ptr<spdlog::logger> log = nullptr)
      : pool_(2, pool_capacity) {
    clock.set(kNoon);
    list.set_updated_ms(kNoon);
    for (const CardSpec& c : cards()) {
      Holder h;
      h.token = token_of(c.id);
      h.masked = "masked-" + c.id;
      h.region = c.region;
      h.birth = c.birth;
      h.attributes = c.credential_attrs;
      card.add(c.id, h);
      qr.add(c.id, h);
      if (c.status) list.put(h.token, *c.status, c.list_attrs);
    }
    if (!file_path.empty()) {
      std::ofstream(file_path) << policies;
      PolicyLoadOptions lo;
      lo.group_names = kDefaultGroups;
      auto opened = PolicyFile::open(file_path, lo);
      if (!opened) ADD_FAILURE() << opened.error().message;
      if (opened) file = std::move(opened.value());
    } else {
      auto fixed = testing::fixed_policies(policies, "test-policies.toml");
      if (!fixed) ADD_FAILURE() << fixed.error().message;
      file = fixed ? std::move(fixed.value()) : std::make_unique<PolicyFile>(nullptr);
    }
    counters = CounterStore::in_memory(clock);
    engine =
        std::make_unique<PolicyAuthorizer>(PolicyAuthorizer::Deps{*file,
                                                                  {{CredentialType::card, &card},
                                                                   {CredentialType::ecard_qr, &qr},
                                                                   {CredentialType::other, &other}},
                                                                  list,
                                                                  *counters,
                                                                  link,
                                                                  online,
                                                                  pool_,
                                                                  clock,
                                                                  std::move(log),
                                                                  &records},
                                           options);
  }
  ~Harness() {
    // Nothing may call back into the engine once it is gone.
    pool_.stop();
    online.join();
  }

  static AuthRequest request(const std::string& terminal, const std::string& scenario,
                             const std::string& card_id, Fen amount,
                             CredentialType type = CredentialType::card) {
    AuthRequest r;
    r.req_id = "r-" + terminal;
    r.terminal = terminal;
    r.scenario = scenario;
    r.ts_ms = kNoon;
    r.credential.type = type;
    if (type == CredentialType::card) r.credential.card_no = card_id;
    if (type == CredentialType::ecard_qr || type == CredentialType::ykm_qr)
      r.credential.qr = card_id;
    if (type == CredentialType::other) r.credential.method = "cash";
    r.amount_fen = amount;
    return r;
  }

  AuthResponse decide(const AuthRequest& r, const std::string& mac_input = {}) {
    std::promise<AuthResponse> p;
    auto f = p.get_future();
    std::atomic<int> calls{0};
    TapContext ctx{"xiangkou", r.terminal, clock.wall_ms(), mac_input};
    engine->authorize(r, ctx, [&](AuthResponse resp) {
      if (calls.fetch_add(1) == 0) p.set_value(std::move(resp));
    });
    if (f.wait_for(5s) != std::future_status::ready) {
      ADD_FAILURE() << "no decision within 5 s";
      return {};
    }
    AuthResponse resp = f.get();
    EXPECT_EQ(calls.load(), 1);
    return resp;
  }

  AuthResponse decide(const std::string& terminal, const std::string& scenario,
                      const std::string& card_id, Fen amount,
                      CredentialType type = CredentialType::card) {
    return decide(request(terminal, scenario, card_id, amount, type));
  }

  AuthResponse decide_at(UtcMillis t, const std::string& terminal, const std::string& scenario,
                         const std::string& card_id, Fen amount) {
    const UtcMillis before = clock.wall_ms();
    clock.set(t);
    AuthResponse r = decide(terminal, scenario, card_id, amount);
    clock.set(before);
    return r;
  }

  FakeClock clock;
  FakeCardList list;
  FakeRecordStore records;  // clock-ins recorded as attendance
  FakeDecoder card{CredentialType::card, false};
  FakeDecoder qr{CredentialType::ecard_qr, true};
  FakeDecoder other{CredentialType::other, false};
  FakeLink link;
  FakeOnlineClient online;
  std::unique_ptr<PolicyFile> file;
  std::unique_ptr<CounterStore> counters;

 private:
  WorkerPool pool_;

 public:
  std::unique_ptr<PolicyAuthorizer> engine;
};

// ---- one row per rule and per decline reason -------------------------------------------------

enum class Platform { none, approve, approve_less, decline_frozen, decline_unknown_code };

struct Row {
  std::string name;
  std::string terminal;
  std::string scenario{};  // empty: the terminal's own scenario name (taken from the row's intent)
  std::string card;
  Fen amount = 0;
  CredentialType type = CredentialType::card;
  UtcMillis at = kNoon;
  bool link_up = false;
  Platform platform = Platform::none;
  std::function<void(Harness&)> setup{};
  // expected
  Decision decision = Decision::approve;
  Reason reason = Reason::ok;
  std::string rule;
  Fen amount_fen = 0;
  Fen amount_before_fen = 0;
  AuthMode mode = AuthMode::offline;
  int service_item = -1;  // -1: do not check
};

const std::map<std::string, std::string>& scenario_of_prefix() {
  static const std::map<std::string, std::string> m = {
      {"ct", "canteen"},
      {"cto", "canteen_online"},
      {"cts", "canteen_stale"},
      {"site", "gate_site"},
      {"campus", "gate_campus"},
      {"night", "gate_night"},
      {"pin", "parking_in"},
      {"pout", "parking_out"},
      {"pin2", "parking_in2"},
      {"pout2", "parking_out2"},
      {"bus", "bus"},
      {"bust", "bus_taps"},
      {"scenic", "scenic"},
      {"scenicr", "scenic_region"},
      {"lib", "library"},
      {"mus", "museum"},
      {"hotel", "hotel"},
      {"med", "clinic"},
  };
  return m;
}

std::string default_scenario(const std::string& terminal) {
  const auto dash = terminal.find('-');
  const auto it = scenario_of_prefix().find(terminal.substr(0, dash));
  return it == scenario_of_prefix().end() ? "canteen" : it->second;
}

void enter(Harness& h, const std::string& terminal, const std::string& card, UtcMillis at) {
  const AuthResponse r = h.decide_at(at, terminal, default_scenario(terminal), card, 0);
  ASSERT_EQ(r.decision, Decision::approve) << r.rule;
}

std::vector<Row> rows() {
  using enum Decision;
  std::vector<Row> v;
  auto add = [&](Row r) { v.push_back(std::move(r)); };
  const Decision dec = decline;
  // common to every scenario
  add({.name = "unknown_terminal",
       .terminal = "zz-1",
       .scenario = "canteen",
       .card = "adult",
       .amount = 800,
       .decision = dec,
       .reason = Reason::unknown_terminal,
       .rule = "terminal.unassigned",
       .amount_before_fen = 800,
       .service_item = 0});
  add({.name = "scenario_mismatch",
       .terminal = "ct-1",
       .scenario = "bus",
       .card = "adult",
       .amount = 800,
       .decision = dec,
       .reason = Reason::scenario_mismatch,
       .rule = "terminal.scenario_mismatch",
       .amount_before_fen = 800,
       .service_item = 16});
  add({.name = "credential_not_supported",
       .terminal = "ct-1",
       .card = "adult",
       .amount = 800,
       .type = CredentialType::ykm_qr,
       .decision = dec,
       .reason = Reason::credential_not_supported,
       .rule = "credential.not_supported",
       .amount_before_fen = 800});
  add({.name = "invalid_card_no",
       .terminal = "ct-1",
       .card = "not-a-card",
       .amount = 800,
       .decision = dec,
       .reason = Reason::invalid_card_no,
       .rule = "credential.check",
       .amount_before_fen = 800});
  add({.name = "mac_required",
       .terminal = "site-1",
       .card = "worker",
       .decision = dec,
       .reason = Reason::mac_required,
       .rule = "credential.check"});
  add({.name = "card_lost",
       .terminal = "ct-1",
       .card = "lost",
       .amount = 800,
       .decision = dec,
       .reason = Reason::card_lost,
       .rule = "cardlist.deny",
       .amount_before_fen = 800});
  add({.name = "card_frozen",
       .terminal = "bus-1",
       .card = "frozen",
       .decision = dec,
       .reason = Reason::card_frozen,
       .rule = "cardlist.deny"});
  add({.name = "card_cancelled",
       .terminal = "lib-1",
       .card = "cancelled",
       .decision = dec,
       .reason = Reason::card_cancelled,
       .rule = "cardlist.deny"});
  add({.name = "unknown_card",
       .terminal = "ct-1",
       .card = "unknown50",
       .amount = 800,
       .decision = dec,
       .reason = Reason::unknown_card,
       .rule = "cardlist.unknown",
       .amount_before_fen = 800});
  add({.name = "unknown_card_region_allowed",
       .terminal = "bus-1",
       .card = "sichuan",
       .amount = 200,
       .rule = "bus.fare",
       .amount_fen = 200,
       .amount_before_fen = 200});
  add({.name = "unknown_card_region_not_allowed",
       .terminal = "bus-1",
       .card = "tibet",
       .amount = 200,
       .decision = dec,
       .reason = Reason::unknown_card,
       .rule = "cardlist.unknown",
       .amount_before_fen = 200});
  add({.name = "other_credential",
       .terminal = "ct-1",
       .card = "",
       .amount = 700,
       .type = CredentialType::other,
       .rule = "other.not_checked",
       .amount_fen = 700,
       .amount_before_fen = 700});
  add({.name = "card_list_stale",
       .terminal = "cts-1",
       .card = "adult",
       .amount = 600,
       .setup = [](Harness& h) { h.list.set_updated_ms(kNoon - 2 * kHour); },
       .decision = dec,
       .reason = Reason::card_list_stale,
       .rule = "cardlist.stale",
       .amount_before_fen = 600});
  add({.name = "card_list_stale_small_amount",
       .terminal = "cts-1",
       .card = "adult",
       .amount = 500,
       .setup = [](Harness& h) { h.list.set_updated_ms(kNoon - 2 * kHour); },
       .rule = "canteen.full_price",
       .amount_fen = 500,
       .amount_before_fen = 500});
  // The platform produced the list two hours ago but answered "up to date" ten minutes ago:
  // the list is known current, so the tap above the stale limit is approved offline.
  add({.name = "card_list_old_but_checked",
       .terminal = "cts-1",
       .card = "adult",
       .amount = 600,
       .setup =
           [](Harness& h) {
             h.list.set_updated_ms(kNoon - 2 * kHour);
             h.list.set_checked_ms(kNoon - 10 * kMinute);
           },
       .rule = "canteen.full_price",
       .amount_fen = 600,
       .amount_before_fen = 600});
  // A confirmation that is itself older than the limit does not help.
  add({.name = "card_list_old_and_checked_long_ago",
       .terminal = "cts-1",
       .card = "adult",
       .amount = 600,
       .setup =
           [](Harness& h) {
             h.list.set_updated_ms(kNoon - 3 * kHour);
             h.list.set_checked_ms(kNoon - 2 * kHour);
           },
       .decision = dec,
       .reason = Reason::card_list_stale,
       .rule = "cardlist.stale",
       .amount_before_fen = 600});
  add({.name = "card_list_fresh",
       .terminal = "cts-1",
       .card = "adult",
       .amount = 600,
       .rule = "canteen.full_price",
       .amount_fen = 600,
       .amount_before_fen = 600});

  // canteen
  add({.name = "canteen.age_80",
       .terminal = "ct-1",
       .card = "age85",
       .amount = 1200,
       .rule = "canteen.age_80",
       .amount_fen = 0,
       .amount_before_fen = 1200,
       .service_item = 16});
  add({.name = "canteen.age_70",
       .terminal = "ct-1",
       .card = "age72",
       .amount = 1200,
       .rule = "canteen.age_70",
       .amount_fen = 840,
       .amount_before_fen = 1200});
  add({.name = "canteen.age_60_rounds_down",
       .terminal = "ct-1",
       .card = "age61",
       .amount = 1005,
       .rule = "canteen.age_60",
       .amount_fen = 904,
       .amount_before_fen = 1005});
  add({.name = "canteen.full_price",
       .terminal = "ct-1",
       .card = "adult",
       .amount = 1200,
       .rule = "canteen.full_price",
       .amount_fen = 1200,
       .amount_before_fen = 1200});
  add({.name = "canteen.no_birth_date",
       .terminal = "ct-1",
       .card = "nobirth",
       .amount = 1200,
       .rule = "canteen.full_price",
       .amount_fen = 1200,
       .amount_before_fen = 1200});
  add({.name = "canteen.daily_cap",
       .terminal = "ct-1",
       .card = "age72",
       .amount = 1200,
       .setup =
           [](Harness& h) {
             for (int i = 0; i < 2; ++i) {
               ASSERT_EQ(h.decide("ct-1", "canteen", "age72", 1200).decision, Decision::approve);
             }
           },
       .decision = dec,
       .reason = Reason::daily_cap_reached,
       .rule = "canteen.daily_cap",
       .amount_before_fen = 1200});

  // gate
  add({.name = "gate.clock_in",
       .terminal = "site-1",
       .card = "worker",
       .setup = [](Harness&) {},
       .rule = "gate.clock_in",
       .service_item = 5});
  add({.name = "gate.hours",
       .terminal = "site-1",
       .card = "worker",
       .at = shanghai_ms(2025, 6, 11, 20, 0),
       .decision = dec,
       .reason = Reason::outside_hours,
       .rule = "gate.hours"});
  add({.name = "gate.group",
       .terminal = "site-1",
       .card = "staff",
       .decision = dec,
       .reason = Reason::group_not_allowed,
       .rule = "gate.group"});
  add({.name = "gate.open_by_fixed_attribute",
       .terminal = "campus-1",
       .card = "disabled",
       .rule = "gate.open",
       .service_item = 9});
  add({.name = "gate.open_by_credential_attribute",
       .terminal = "campus-1",
       .card = "qrstudent",
       .type = CredentialType::ecard_qr,
       .rule = "gate.open"});
  add({.name = "gate.open_window_across_midnight",
       .terminal = "night-1",
       .card = "adult",
       .at = shanghai_ms(2025, 6, 11, 23, 30),
       .rule = "gate.open"});
  add({.name = "gate.closed_window_across_midnight",
       .terminal = "night-1",
       .card = "adult",
       .at = shanghai_ms(2025, 6, 11, 6, 0),
       .decision = dec,
       .reason = Reason::outside_hours,
       .rule = "gate.hours"});

  // parking
  add({.name = "parking.entry", .terminal = "pin-1", .card = "adult", .rule = "parking.entry"});
  add({.name = "parking.free",
       .terminal = "pout-1",
       .card = "adult",
       .setup = [](Harness& h) { enter(h, "pin-1", "adult", kNoon - 15 * kMinute); },
       .rule = "parking.free"});
  add({.name = "parking.fee_one_unit",
       .terminal = "pout-1",
       .card = "adult",
       .setup = [](Harness& h) { enter(h, "pin-1", "adult", kNoon - 75 * kMinute); },
       .rule = "parking.fee",
       .amount_fen = 200,
       .amount_before_fen = 200});
  add({.name = "parking.fee_started_unit",
       .terminal = "pout-1",
       .card = "adult",
       .setup = [](Harness& h) { enter(h, "pin-1", "adult", kNoon - 75 * kMinute - 1); },
       .rule = "parking.fee",
       .amount_fen = 400,
       .amount_before_fen = 400});
  add({.name = "parking.fee_daily_cap_per_started_day",
       .terminal = "pout-1",
       .card = "adult",
       .setup = [](Harness& h) { enter(h, "pin-1", "adult", kNoon - 30 * kHour); },
       .rule = "parking.fee",
       .amount_fen = 3200,
       .amount_before_fen = 3200});
  add({.name = "parking.no_entry",
       .terminal = "pout-1",
       .card = "adult",
       .decision = dec,
       .reason = Reason::no_entry_record,
       .rule = "parking.no_entry"});
  add({.name = "parking.no_entry_other_lot",
       .terminal = "pout-1",
       .card = "adult",
       .setup = [](Harness& h) { enter(h, "pin2-1", "adult", kNoon - kHour); },
       .decision = dec,
       .reason = Reason::no_entry_record,
       .rule = "parking.no_entry"});
  add({.name = "parking.no_entry_max_fee",
       .terminal = "pout2-1",
       .card = "adult",
       .rule = "parking.no_entry_max_fee",
       .amount_fen = 1500,
       .amount_before_fen = 1500});

  // bus (link down unless said)
  add({.name = "bus.fare_offline",
       .terminal = "bus-1",
       .card = "adult",
       .amount = 999,
       .rule = "bus.fare",
       .amount_fen = 200,
       .amount_before_fen = 200,
       .service_item = 29});
  add({.name = "bus.fare_online",
       .terminal = "bus-1",
       .card = "adult",
       .amount = 999,
       .link_up = true,
       .platform = Platform::approve,
       .rule = "bus.fare",
       .amount_fen = 200,
       .amount_before_fen = 200,
       .mode = AuthMode::online});
  add({.name = "bus.offline_floor",
       .terminal = "bust-1",
       .card = "adult",
       .amount = 301,
       .decision = dec,
       .reason = Reason::offline_limit_exceeded,
       .rule = "bus.offline_floor",
       .amount_before_fen = 301});
  add({.name = "bus.offline_daily_cap",
       .terminal = "bus-1",
       .card = "adult",
       .setup =
           [](Harness& h) {
             for (int i = 0; i < 2; ++i) {
               ASSERT_EQ(h.decide("bus-1", "bus", "adult", 200).decision, Decision::approve);
             }
           },
       .decision = dec,
       .reason = Reason::offline_daily_cap_reached,
       .rule = "bus.offline_daily_cap",
       .amount_before_fen = 200});
  add({.name = "bus.offline_taps",
       .terminal = "bust-1",
       .card = "adult",
       .amount = 100,
       .setup =
           [](Harness& h) {
             for (int i = 0; i < 2; ++i) {
               ASSERT_EQ(h.decide("bust-1", "bus_taps", "adult", 100).decision, Decision::approve);
             }
           },
       .decision = dec,
       .reason = Reason::offline_tap_cap_reached,
       .rule = "bus.offline_taps",
       .amount_before_fen = 100});

  // scenic
  add({.name = "scenic.free_disabled",
       .terminal = "scenic-1",
       .card = "disabled",
       .amount = 8000,
       .rule = "scenic.free_disabled",
       .amount_fen = 0,
       .amount_before_fen = 8000,
       .service_item = 32});
  add({.name = "scenic.free_age",
       .terminal = "scenic-1",
       .card = "age65",
       .amount = 8000,
       .rule = "scenic.free_age",
       .amount_fen = 0,
       .amount_before_fen = 8000});
  add({.name = "scenic.age_60",
       .terminal = "scenic-1",
       .card = "age64",
       .amount = 8000,
       .rule = "scenic.age_60",
       .amount_fen = 4000,
       .amount_before_fen = 8000});
  add({.name = "scenic.free_local",
       .terminal = "scenic-1",
       .card = "local",
       .amount = 8000,
       .rule = "scenic.free_local",
       .amount_fen = 0,
       .amount_before_fen = 8000});
  add({.name = "scenic.free_local_by_region",
       .terminal = "scenicr-1",
       .card = "adult",
       .amount = 100,
       .rule = "scenic.free_local",
       .amount_fen = 0,
       .amount_before_fen = 6000});
  add({.name = "scenic.full_price",
       .terminal = "scenic-1",
       .card = "adult",
       .amount = 8000,
       .rule = "scenic.full_price",
       .amount_fen = 8000,
       .amount_before_fen = 8000});

  // identity only
  add({.name = "library.identity",
       .terminal = "lib-1",
       .card = "adult",
       .amount = 500,
       .rule = "library.identity",
       .service_item = 30});
  add({.name = "museum.identity",
       .terminal = "mus-1",
       .card = "adult",
       .rule = "museum.identity",
       .service_item = 31});
  add({.name = "hotel.identity_unknown_card",
       .terminal = "hotel-1",
       .card = "tibet",
       .rule = "hotel.identity",
       .service_item = 11});
  add({.name = "clinic.identity_online",
       .terminal = "med-1",
       .card = "adult",
       .link_up = true,
       .platform = Platform::approve,
       .rule = "clinic.identity",
       .mode = AuthMode::online,
       .service_item = 40});
  add({.name = "online.required",
       .terminal = "med-1",
       .card = "adult",
       .decision = dec,
       .reason = Reason::online_required,
       .rule = "online.required"});

  // the platform's answer
  add({.name = "platform.approve_less",
       .terminal = "cto-1",
       .card = "adult",
       .amount = 1200,
       .link_up = true,
       .platform = Platform::approve_less,
       .rule = "canteen.full_price",
       .amount_fen = 600,
       .amount_before_fen = 1200,
       .mode = AuthMode::online});
  add({.name = "platform.declined_with_reason",
       .terminal = "cto-1",
       .card = "adult",
       .amount = 1200,
       .link_up = true,
       .platform = Platform::decline_frozen,
       .decision = dec,
       .reason = Reason::card_frozen,
       .rule = "platform.declined",
       .amount_before_fen = 1200,
       .mode = AuthMode::online});
  add({.name = "declined_by_platform",
       .terminal = "cto-1",
       .card = "adult",
       .amount = 1200,
       .link_up = true,
       .platform = Platform::decline_unknown_code,
       .decision = dec,
       .reason = Reason::declined_by_platform,
       .rule = "platform.declined",
       .amount_before_fen = 1200,
       .mode = AuthMode::online});
  add({.name = "platform.asked_for_unknown_card",
       .terminal = "cto-1",
       .card = "unknown50",
       .amount = 1200,
       .link_up = true,
       .platform = Platform::approve,
       .rule = "canteen.full_price",
       .amount_fen = 1200,
       .amount_before_fen = 1200,
       .mode = AuthMode::online});
  return v;
}

class RuleTable : public ::testing::TestWithParam<Row> {};

TEST_P(RuleTable, Decides) {
  const Row& row = GetParam();
  Harness engine(kPolicies, PolicyAuthorizer::Options{kHour});
  engine.link.set_up(row.link_up);
  FakeOnlineClient::Behaviour b;
  switch (row.platform) {
    case Platform::none:
    case Platform::approve:
      break;
    case Platform::approve_less:
      b.reply = {Decision::approve, "ok", 600};
      break;
    case Platform::decline_frozen:
      b.reply = {Decision::decline, "card_frozen", 0};
      break;
    case Platform::decline_unknown_code:
      b.reply = {Decision::decline, "no_such_code", 0};
      break;
  }
  engine.online.set(b);
  if (row.setup) row.setup(engine);
  engine.clock.set(row.at);
  const std::string scenario = row.scenario.empty() ? default_scenario(row.terminal) : row.scenario;
  AuthRequest req = Harness::request(row.terminal, scenario, row.card, row.amount, row.type);
  if (row.terminal.starts_with("site-") && row.reason != Reason::mac_required)
    req.credential.mac = "00ff";
  const AuthResponse r = engine.decide(req);
  EXPECT_EQ(r.req_id, req.req_id);
  EXPECT_EQ(r.decision, row.decision);
  EXPECT_EQ(r.reason, row.reason) << reason_code(r.reason);
  EXPECT_EQ(r.rule, row.rule);
  EXPECT_EQ(r.amount_fen, row.amount_fen);
  EXPECT_EQ(r.amount_before_fen, row.amount_before_fen);
  EXPECT_EQ(r.mode, row.mode);
  if (row.service_item >= 0) {
    EXPECT_EQ(r.service_item, row.service_item);
  }
  if (row.decision == Decision::decline) {
    EXPECT_EQ(r.amount_fen, 0);
  }
  if (row.platform == Platform::none) {
    EXPECT_EQ(engine.online.calls(), 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(EveryRule, RuleTable, ::testing::ValuesIn(rows()),
                         [](const ::testing::TestParamInfo<Row>& info) {
                           std::string n = info.param.name;
                           for (char& c : n)
                             if (c == '.') c = '_';
                           return n;
                         });

// Every policy decline reason and every rule id has a row: a rule added without a row fails.
TEST(RuleTableCoverage, EveryPolicyReasonAndRuleHasARow) {
  std::set<Reason> reasons;
  std::set<std::string> rules;
  for (const Row& r : rows()) {
    reasons.insert(r.reason);
    rules.insert(r.rule);
  }
  for (Reason r :
       {Reason::unknown_terminal, Reason::scenario_mismatch, Reason::credential_not_supported,
        Reason::invalid_card_no, Reason::mac_required, Reason::card_lost, Reason::card_frozen,
        Reason::card_cancelled, Reason::unknown_card, Reason::group_not_allowed,
        Reason::outside_hours, Reason::daily_cap_reached, Reason::offline_limit_exceeded,
        Reason::offline_daily_cap_reached, Reason::offline_tap_cap_reached, Reason::online_required,
        Reason::no_entry_record, Reason::card_list_stale, Reason::declined_by_platform}) {
    EXPECT_TRUE(reasons.contains(r)) << reason_code(r);
  }
  for (const char* rule : {"terminal.unassigned",
                           "terminal.scenario_mismatch",
                           "credential.not_supported",
                           "credential.check",
                           "cardlist.deny",
                           "cardlist.unknown",
                           "cardlist.stale",
                           "other.not_checked",
                           "online.required",
                           "platform.declined",
                           "canteen.age_80",
                           "canteen.age_70",
                           "canteen.age_60",
                           "canteen.full_price",
                           "canteen.daily_cap",
                           "gate.open",
                           "gate.clock_in",
                           "gate.group",
                           "gate.hours",
                           "parking.entry",
                           "parking.free",
                           "parking.fee",
                           "parking.no_entry",
                           "parking.no_entry_max_fee",
                           "bus.fare",
                           "bus.offline_floor",
                           "bus.offline_daily_cap",
                           "bus.offline_taps",
                           "scenic.free_disabled",
                           "scenic.free_age",
                           "scenic.free_local",
                           "scenic.age_60",
                           "scenic.full_price",
                           "library.identity",
                           "museum.identity",
                           "hotel.identity",
                           "clinic.identity"}) {
    EXPECT_TRUE(rules.contains(rule)) << rule;
  }
}

// ---- a deny-listed card is declined in every scenario, whatever else holds ----------------------

TEST(DenyListProperty, DeclinedInEveryScenarioWhateverElseHolds) {
  std::mt19937_64 rng(20250611);
  std::vector<std::string> terminals;
  for (const auto& [prefix, scenario] : scenario_of_prefix()) {
    terminals.push_back(prefix == "ct" ? "ct-1" : prefix + "-7");  // ct-1 is an exact match
  }
  const CardStatus statuses[] = {CardStatus::lost, CardStatus::frozen, CardStatus::cancelled};
  const Reason expected[] = {Reason::card_lost, Reason::card_frozen, Reason::card_cancelled};
  Harness h(kPolicies, PolicyAuthorizer::Options{kHour});
  int checked = 0;
  for (int i = 0; i < 3000; ++i) {
    const std::size_t s = rng() % 3;
    const std::string id = "deny-" + std::to_string(i);
    Holder holder;
    holder.token = token_of(id);
    holder.masked = "masked-" + id;
    holder.region = std::array<IssuerRegion, 5>{50, 51, 52, 54, 0}[rng() % 5];
    holder.birth = BirthDate{static_cast<int>(1920 + rng() % 100), static_cast<int>(1 + rng() % 12),
                             static_cast<int>(1 + rng() % 28)};
    holder.attributes = static_cast<HolderAttributes>(rng());  // every group, disabled, local
    h.card.add(id, holder);
    h.qr.add(id, holder);
    h.list.put(holder.token, statuses[s], static_cast<HolderAttributes>(rng()));
    h.list.set_updated_ms(kNoon - static_cast<std::int64_t>(rng() % (3 * kHour)));
    h.link.set_up(rng() % 2 == 0);
    FakeOnlineClient::Behaviour b;  // a platform that would approve anything, in any way
    b.outcome =
        std::array<OnlineOutcome, 4>{OnlineOutcome::answered, OnlineOutcome::timeout,
                                     OnlineOutcome::link_down, OnlineOutcome::error}[rng() % 4];
    h.online.set(b);
    const std::string& terminal = terminals[rng() % terminals.size()];
    h.clock.set(kNoon + static_cast<std::int64_t>(rng() % (7 * 24)) * kHour);
    // Counters in any state: the card has eaten, parked and ridden before.
    const LocalDay day = shanghai_day(h.clock.wall_ms());
    for (std::uint64_t m = rng() % 3; m > 0; --m) h.counters->add_meal(holder.token, day);
    if (rng() % 2) h.counters->set_parking_entry("p1", holder.token, kNoon - kHour);
    const CredentialType type = rng() % 4 == 0 ? CredentialType::ecard_qr : CredentialType::card;
    AuthRequest req = Harness::request(terminal, default_scenario(terminal), id,
                                       static_cast<Fen>(rng() % 100'000), type);
    req.credential.mac = "00ff";
    const std::size_t asked = h.online.calls();
    const AuthResponse r = h.decide(req);
    ASSERT_EQ(r.decision, Decision::decline) << terminal << " " << id;
    EXPECT_EQ(r.reason, expected[s]) << terminal;
    EXPECT_EQ(r.rule, "cardlist.deny");
    EXPECT_EQ(r.amount_fen, 0);
    EXPECT_EQ(h.online.calls(), asked) << "the platform was asked about a deny-listed card";
    ++checked;
  }
  EXPECT_EQ(checked, 3000);
}

// ---- online authorization --------------------------------------------------------------------

TEST(Online, AnsweredApprovalIsOnlineAndCounts) {
  Harness h;
  h.link.set_up(true);
  const AuthResponse r = h.decide("cto-1", "canteen_online", "age72", 1200);
  EXPECT_EQ(r.mode, AuthMode::online);
  EXPECT_EQ(r.decision, Decision::approve);
  ASSERT_EQ(h.online.calls(), 1u);
  const OnlineAuthRequest sent = h.online.last();
  EXPECT_EQ(sent.card_token, token_of("age72"));
  EXPECT_EQ(sent.scenario, "canteen_online");
  EXPECT_EQ(sent.site, "xiangkou");
  EXPECT_EQ(sent.terminal, "cto-1");
  EXPECT_EQ(sent.service_item, 16);
  EXPECT_EQ(sent.region, 50);
  EXPECT_EQ(sent.amount_fen, 1200);
  EXPECT_EQ(h.online.last_deadline(), 120ms);
  EXPECT_EQ(h.counters->meals(token_of("age72"), shanghai_day(kNoon)), 1);
}

TEST(Online, DeadlineDefaultsTo150Ms) {
  Harness h;
  h.link.set_up(true);
  (void)h.decide("bus-1", "bus", "adult", 200);
  EXPECT_EQ(h.online.last_deadline(), 150ms);
}

TEST(Online, TimeoutDoesNotBlockAndFallsBackOffline) {
  Harness h;
  h.link.set_up(true);
  FakeOnlineClient::Behaviour b;
  b.outcome = OnlineOutcome::timeout;
  b.delay = 200ms;  // the client calls back late, from its own thread
  h.online.set(b);
  std::promise<AuthResponse> p;
  auto f = p.get_future();
  std::atomic<std::thread::id> answered_on{};
  const auto req = Harness::request("bus-1", "bus", "adult", 200);
  const auto t0 = std::chrono::steady_clock::now();
  h.engine->authorize(req, TapContext{"xiangkou", "bus-1", kNoon, {}}, [&](AuthResponse r) {
    answered_on = std::this_thread::get_id();
    p.set_value(std::move(r));
  });
  const auto returned_after = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(returned_after, 100ms) << "authorize() waited for the platform";
  EXPECT_EQ(f.wait_for(0ms), std::future_status::timeout) << "answered before the callback";
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  const AuthResponse r = f.get();
  EXPECT_NE(answered_on.load(), std::this_thread::get_id());
  EXPECT_EQ(r.decision, Decision::approve);
  EXPECT_EQ(r.mode, AuthMode::offline);
  EXPECT_EQ(r.rule, "bus.fare");
  EXPECT_EQ(h.counters->offline_use(token_of("adult"), shanghai_day(kNoon)), (OfflineUse{200, 1}));
  EXPECT_EQ(h.engine->stats().online_timeout, 1u);
}

TEST(Online, TimeoutOnAnOnlineOnlyScenarioIsOnlineRequired) {
  Harness h;
  h.link.set_up(true);
  FakeOnlineClient::Behaviour b;
  b.outcome = OnlineOutcome::timeout;
  b.delay = 50ms;
  h.online.set(b);
  const AuthResponse r = h.decide("med-1", "clinic", "adult", 0);
  EXPECT_EQ(r.reason, Reason::online_required);
  EXPECT_EQ(r.mode, AuthMode::offline);
}

TEST(Online, LinkDownIsNotAsked) {
  Harness h;
  h.link.set_up(false);
  const AuthResponse r = h.decide("bus-1", "bus", "adult", 200);
  EXPECT_EQ(h.online.calls(), 0u);
  EXPECT_EQ(r.mode, AuthMode::offline);
  EXPECT_EQ(r.decision, Decision::approve);
}

TEST(Online, ClientReportingLinkDownOrErrorFallsBack) {
  for (OnlineOutcome o : {OnlineOutcome::link_down, OnlineOutcome::error}) {
    Harness h;
    h.link.set_up(true);
    FakeOnlineClient::Behaviour b;
    b.outcome = o;
    h.online.set(b);
    const AuthResponse r = h.decide("cto-1", "canteen_online", "adult", 900);
    EXPECT_EQ(r.mode, AuthMode::offline);
    EXPECT_EQ(r.decision, Decision::approve);
    EXPECT_EQ(r.amount_fen, 900);
  }
}

TEST(Online, AnOnlineAnswerRestartsTheRunOfOfflineTaps) {
  Harness h;
  for (int i = 0; i < 2; ++i)
    ASSERT_EQ(h.decide("bust-1", "bus_taps", "adult", 100).decision, Decision::approve);
  EXPECT_EQ(h.decide("bust-1", "bus_taps", "adult", 100).reason, Reason::offline_tap_cap_reached);
  // bus_taps never asks; the bus scenario does, and the card's run starts again.
  h.link.set_up(true);
  ASSERT_EQ(h.decide("bus-1", "bus", "adult", 200).mode, AuthMode::online);
  h.link.set_up(false);
  EXPECT_EQ(h.decide("bust-1", "bus_taps", "adult", 100).decision, Decision::approve);
}

// ---- threads ---------------------------------------------------------------------------------

TEST(Threads, QrDecodersRunOnThePoolCardDecodersInline) {
  Harness h;
  const AuthResponse qr = h.decide("ct-1", "canteen", "age85", 1000, CredentialType::ecard_qr);
  EXPECT_EQ(qr.rule, "canteen.age_80");
  EXPECT_EQ(h.qr.calls(), 1);
  EXPECT_NE(h.qr.last_thread(), std::this_thread::get_id());

  bool answered_inline = false;
  h.engine->authorize(Harness::request("ct-1", "canteen", "adult", 1000),
                      TapContext{"xiangkou", "ct-1", kNoon, {}},
                      [&](AuthResponse r) { answered_inline = r.decision == Decision::approve; });
  EXPECT_TRUE(answered_inline) << "a card decision from memory must answer before returning";
  EXPECT_EQ(h.card.last_thread(), std::this_thread::get_id());
}

TEST(Threads, FullPoolAnswersBusy) {
  Harness h(kPolicies, {}, /*pool_capacity=*/1);
  // Occupy both workers and the one queue slot.
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  std::atomic<int> started{0};
  for (int i = 0; i < 3; ++i) {
    h.engine->authorize(Harness::request("ct-1", "canteen", "adult", 1, CredentialType::ecard_qr),
                        TapContext{"xiangkou", "ct-1", kNoon, {}}, [gate, &started](AuthResponse) {
                          ++started;
                          gate.wait();
                        });
    if (i < 2) {
      for (int spin = 0; spin < 500 && started.load() <= i; ++spin)
        std::this_thread::sleep_for(1ms);
    }
  }
  const AuthResponse r =
      h.decide(Harness::request("ct-1", "canteen", "adult", 1, CredentialType::ecard_qr));
  EXPECT_EQ(r.reason, Reason::busy);
  EXPECT_EQ(r.rule, "engine.busy");
  EXPECT_EQ(h.engine->stats().pool_busy, 1u);
  release.set_value();
}

TEST(Threads, ConcurrentTapsOfOneCardNeverPassTheMealCap) {
  Harness h;
  std::atomic<int> approved{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        if (h.decide("ct-1", "canteen", "adult", 800).decision == Decision::approve) ++approved;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(approved.load(), 2);
}

// ---- time ------------------------------------------------------------------------------------

TEST(DayRollover, At1600UtcCountersStartAgain) {
  Harness h;
  const UtcMillis before = testing::utc_ms(2025, 6, 11, 15, 59, 59, 999);
  const UtcMillis after = testing::utc_ms(2025, 6, 11, 16, 0, 0, 0);
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(h.decide_at(before, "bus-1", "bus", "adult", 200).decision, Decision::approve);
    ASSERT_EQ(h.decide_at(before, "ct-1", "canteen", "adult", 800).decision, Decision::approve);
  }
  EXPECT_EQ(h.decide_at(before, "bus-1", "bus", "adult", 200).reason,
            Reason::offline_daily_cap_reached);
  EXPECT_EQ(h.decide_at(before, "ct-1", "canteen", "adult", 800).reason, Reason::daily_cap_reached);
  EXPECT_EQ(h.decide_at(after, "bus-1", "bus", "adult", 200).decision, Decision::approve);
  EXPECT_EQ(h.decide_at(after, "ct-1", "canteen", "adult", 800).decision, Decision::approve);
}

TEST(DayRollover, OpeningHoursAreShanghaiTime) {
  Harness h;
  auto worker_at = [&](UtcMillis t) {
    AuthRequest r = Harness::request("site-1", "gate_site", "worker", 0);
    r.credential.mac = "00ff";
    h.clock.set(t);
    return h.decide(r).reason;
  };
  // 06:00 Shanghai is 22:00 UTC the day before.
  EXPECT_EQ(worker_at(testing::utc_ms(2025, 6, 10, 21, 59)), Reason::outside_hours);
  EXPECT_EQ(worker_at(testing::utc_ms(2025, 6, 10, 22, 0)), Reason::ok);
  EXPECT_EQ(worker_at(testing::utc_ms(2025, 6, 11, 11, 59)), Reason::ok);
  EXPECT_EQ(worker_at(testing::utc_ms(2025, 6, 11, 12, 0)), Reason::outside_hours);
}

// ---- attendance -------------------------------------------------------------------------------

TEST(Attendance, RecordCarriesTokenMaskedCardTerminalSiteScenarioItemAndTime) {
  const ClockIn c{"xiangkou",
                  "site-1",
                  "gate_site",
                  5,
                  "r-7",
                  kNoon - 1500,
                  kNoon,
                  AuthMode::offline,
                  CredentialType::ecard_qr,
                  "tok-worker",
                  "masked-worker",
                  50};
  const TxnRecord r = attendance_record(c);
  EXPECT_EQ(r.kind, RecordKind::attendance);
  EXPECT_EQ(r.txn_id, "attendance@" + std::to_string(kNoon - 1500) + "@r-7");
  EXPECT_EQ(r.req_id, "r-7");
  EXPECT_EQ(r.site, "xiangkou");
  EXPECT_EQ(r.terminal, "site-1");
  EXPECT_EQ(r.scenario, "gate_site");
  EXPECT_EQ(r.service_item, 5);
  EXPECT_EQ(r.ts_ms, kNoon);  // the gateway's time of the clock-in, not the terminal's
  EXPECT_EQ(r.received_ms, kNoon);
  EXPECT_EQ(r.card.type, CredentialType::ecard_qr);
  EXPECT_EQ(r.card.token, "tok-worker");
  EXPECT_EQ(r.card.masked, "masked-worker");
  EXPECT_EQ(r.card.region, 50);
  EXPECT_TRUE(r.card.method.empty());
  EXPECT_EQ(r.amount_fen, 0);
  EXPECT_EQ(r.result, TxnResult::approved);
  EXPECT_TRUE(r.reason.empty());
  EXPECT_EQ(r.mode, AuthMode::offline);
  // A re-sent request gives the same id (stored once); another request another id.
  EXPECT_EQ(attendance_record(c).txn_id, r.txn_id);
  ClockIn later = c;
  later.req_id = "r-8";
  EXPECT_NE(attendance_record(later).txn_id, r.txn_id);
}

TEST(Attendance, AnApprovedClockInIsRecordedOnce) {
  Harness h;
  AuthRequest req = Harness::request("site-1", "gate_site", "worker", 0);
  req.credential.mac = "00ff";
  const AuthResponse resp = h.decide(req);
  ASSERT_EQ(resp.decision, Decision::approve);
  ASSERT_EQ(resp.rule, "gate.clock_in");
  const auto recs = h.records.records();
  ASSERT_EQ(recs.size(), 1u);
  const TxnRecord& r = recs[0];
  EXPECT_EQ(r.kind, RecordKind::attendance);
  EXPECT_EQ(r.terminal, "site-1");
  EXPECT_EQ(r.site, "xiangkou");
  EXPECT_EQ(r.scenario, "gate_site");
  EXPECT_EQ(r.service_item, 5);
  EXPECT_EQ(r.card.token, "tok-worker");
  EXPECT_EQ(r.card.masked, "masked-worker");
  EXPECT_EQ(r.ts_ms, kNoon);
  EXPECT_EQ(r.req_id, req.req_id);
  EXPECT_EQ(h.engine->stats().attendance_stored, 1u);
  EXPECT_EQ(h.engine->stats().attendance_failed, 0u);
}

TEST(Attendance, DeclinedTapsAndPlainGatesRecordNothing) {
  Harness h;
  AuthRequest wrong_group = Harness::request("site-1", "gate_site", "staff", 0);
  wrong_group.credential.mac = "00ff";
  EXPECT_EQ(h.decide(wrong_group).reason, Reason::group_not_allowed);
  AuthRequest lost = Harness::request("site-1", "gate_site", "lost", 0);
  lost.credential.mac = "00ff";
  EXPECT_EQ(h.decide(lost).reason, Reason::card_lost);
  AuthRequest no_mac = Harness::request("site-1", "gate_site", "worker", 0);
  EXPECT_EQ(h.decide(no_mac).reason, Reason::mac_required);
  h.clock.set(shanghai_ms(2025, 6, 11, 21, 0));  // outside the site's hours
  AuthRequest late = Harness::request("site-1", "gate_site", "worker", 0);
  late.credential.mac = "00ff";
  EXPECT_EQ(h.decide(late).reason, Reason::outside_hours);
  h.clock.set(kNoon);
  // A gate without clock_in opens without attendance.
  const AuthResponse open = h.decide("campus-1", "gate_campus", "staff", 0);
  EXPECT_EQ(open.rule, "gate.open");
  EXPECT_TRUE(h.records.records().empty());
  EXPECT_EQ(h.engine->stats().attendance_stored, 0u);
}

TEST(Attendance, AStoreThatRefusesIsCountedAndTheTapStillApproved) {
  Harness h;
  h.records.set_refuse(true);
  AuthRequest req = Harness::request("site-1", "gate_site", "worker", 0);
  req.credential.mac = "00ff";
  EXPECT_EQ(h.decide(req).decision, Decision::approve);
  h.records.set_refuse(false);
  h.records.set_outcome(StoreOutcome::failed);
  req.req_id = "r-again";
  EXPECT_EQ(h.decide(req).decision, Decision::approve);
  EXPECT_EQ(h.engine->stats().attendance_failed, 2u);
  EXPECT_EQ(h.engine->stats().attendance_stored, 0u);
}

// At the disk quota the store writes no record, attendance included: the gate still opens by
// the policy, the refusal has a counter of its own (not `failed`: nothing is broken, and the
// operator's remedy is the quota's), and the warning names the terminal and the masked number.
TEST(Attendance, AtTheDiskQuotaTheClockInIsAnsweredAndTheRefusalCountedApart) {
  std::ostringstream out;
  auto log = std::make_shared<spdlog::logger>(
      "policy", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  Harness h(kPolicies, {}, 64, {}, log);
  h.records.set_outcome(StoreOutcome::over_quota);
  AuthRequest req = Harness::request("site-1", "gate_site", "worker", 0);
  req.credential.mac = "00ff";
  const AuthResponse resp = h.decide(req);
  EXPECT_EQ(resp.decision, Decision::approve);
  EXPECT_EQ(resp.reason, Reason::ok);
  EXPECT_EQ(resp.rule, "gate.clock_in");
  const PolicyAuthorizer::Stats s = h.engine->stats();
  EXPECT_EQ(s.attendance_refused_quota, 1u);
  EXPECT_EQ(s.attendance_failed, 0u);
  EXPECT_EQ(s.attendance_stored, 0u);
  log->flush();
  const std::string text = out.str();
  EXPECT_NE(text.find("attendance record not written: disk quota reached terminal=site-1 "
                      "req_id=r-site-1 card=masked-worker"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("tok-worker"), std::string::npos) << text;
  // The answer is the same whatever the store says: a decline stays a decline, no refusal.
  AuthRequest wrong_group = Harness::request("site-1", "gate_site", "staff", 0);
  wrong_group.credential.mac = "00ff";
  EXPECT_EQ(h.decide(wrong_group).reason, Reason::group_not_allowed);
  EXPECT_EQ(h.engine->stats().attendance_refused_quota, 1u);
  // Below the quota again, the next clock-in is stored.
  h.records.set_outcome(StoreOutcome::stored);
  req.req_id = "r-later";
  EXPECT_EQ(h.decide(req).decision, Decision::approve);
  EXPECT_EQ(h.engine->stats().attendance_stored, 1u);
  EXPECT_EQ(h.engine->stats().attendance_refused_quota, 1u);
}

// ---- reload ----------------------------------------------------------------------------------

TEST(Reload, ADecisionInProgressKeepsItsPoliciesAcrossASwap) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("yktgw-reload-" + std::to_string(::getpid()) + ".toml"))
                               .string();
  Harness h(kPolicies, {}, 64, path);
  h.link.set_up(true);
  FakeOnlineClient::Behaviour b;
  b.outcome = OnlineOutcome::timeout;
  b.delay = 100ms;
  h.online.set(b);
  std::promise<AuthResponse> p;
  h.engine->authorize(Harness::request("cto-1", "canteen_online", "age72", 1000),
                      TapContext{"xiangkou", "cto-1", kNoon, {}},
                      [&](AuthResponse r) { p.set_value(std::move(r)); });
  // While the platform is being asked, the terminal loses its assignment.
  std::string next = kPolicies;
  const auto at = next.find("[[terminal]]\nmatch = \"cto-*\"");
  ASSERT_NE(at, std::string::npos);
  next.replace(at, std::string("[[terminal]]\nmatch = \"cto-*\"").size(),
               "[[terminal]]\nmatch = \"cto-gone-*\"");
  std::ofstream(path) << next;
  ASSERT_TRUE(h.file->reload());
  const AuthResponse pending = p.get_future().get();
  EXPECT_EQ(pending.decision, Decision::approve);
  EXPECT_EQ(pending.service_item, 16);
  EXPECT_EQ(pending.mode, AuthMode::offline);
  EXPECT_EQ(h.decide("cto-1", "canteen_online", "age72", 1000).reason, Reason::unknown_terminal);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace yktgw
