#pragma once
// The scenario kinds of the district plan, one ScenarioPolicy each. Built from policies.toml by
// the loader (policies.cpp); usable directly in tests.
//
// Rule ids are stable: terminals do not see them, but records, statistics and docs/policies.md
// do. Never rename one, only add.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/policy/scenario_policy.h"

namespace yktgw {

// ---- shared pieces ----------------------------------------------------------------------------

struct AgeTier {
  int min_age = 0;
  int percent_off = 0;  // 0..100
  std::string rule;     // "<kind>.age_<min_age>"
  bool operator==(const AgeTier&) const = default;
};

// `amount` less `percent_off` per cent, rounded down to the fen: the holder never pays more
// than the exact discounted price (10 % off 1 005 fen is 904.5 -> 904).
Fen discounted(Fen amount, int percent_off);

// The tier with the highest min_age the holder has reached; nullptr when none or age unknown.
// `tiers` sorted by min_age, highest first.
const AgeTier* tier_for(const std::vector<AgeTier>& tiers, int age);

// Opening hours in Asia/Shanghai minutes of the day, [begin, end). end < begin wraps midnight
// ("22:00-06:00"); "00:00-24:00" is all day.
struct MinuteWindow {
  int begin = 0;
  int end = 0;
  bool contains(int minute_of_day) const {
    return begin <= end ? (minute_of_day >= begin && minute_of_day < end)
                        : (minute_of_day >= begin || minute_of_day < end);
  }
  bool operator==(const MinuteWindow&) const = default;
};

// "HH:MM-HH:MM", 00:00..24:00, begin != end.
std::optional<MinuteWindow> parse_window(std::string_view text);

// ---- canteen (社区养老食堂) --------------------------------------------------------------------

class CanteenPolicy final : public ScenarioPolicy {
 public:
  struct Rules {
    std::vector<AgeTier> tiers;  // highest min_age first
    int daily_meal_cap = 0;      // meals per card per day; 0: no cap
  };
  explicit CanteenPolicy(Rules rules) : rules_(std::move(rules)) {}
  ScenarioKind kind() const override { return ScenarioKind::canteen; }
  Verdict assess(const Tap& tap, const CounterStore& counters) const override;
  Verdict settle_offline(const Tap& tap, const Verdict& assessed,
                         CounterStore& counters) const override;
  void settle_online(const Tap& tap, const Verdict& decided, CounterStore& counters) const override;

 private:
  Rules rules_;
};

// ---- gate (community, campus, construction-site clock-in) --------------------------------------

class GatePolicy final : public ScenarioPolicy {
 public:
  struct Rules {
    HolderAttributes allowed = 0;     // any of these bits lets the holder in; 0: everyone
    std::vector<MinuteWindow> hours;  // empty: always open
    bool clock_in = false;            // approvals are attendance (打卡上工): rule gate.clock_in
  };
  explicit GatePolicy(Rules rules) : rules_(std::move(rules)) {}
  ScenarioKind kind() const override { return ScenarioKind::gate; }
  Verdict assess(const Tap& tap, const CounterStore& counters) const override;

 private:
  Rules rules_;
};

// ---- parking (entry/exit pair per card and lot, fee at exit) ------------------------------------

class ParkingPolicy final : public ScenarioPolicy {
 public:
  enum class Side : std::uint8_t { entry, exit };
  enum class NoEntry : std::uint8_t { decline, max_fee };
  struct Tariff {
    int free_minutes = 0;
    int unit_minutes = 60;
    Fen unit_fee_fen = 0;
    Fen daily_cap_fen = 0;  // per started 24 hours of the stay; 0: no cap
  };
  struct Rules {
    std::string lot;
    Side side = Side::entry;
    Tariff tariff;
    NoEntry no_entry = NoEntry::decline;
  };
  // ceil((duration - free) / unit) * unit_fee, 0 within the free minutes. With a cap, each
  // started 24 hours from entry is billed on its own, at most daily_cap_fen; the free minutes
  // are deducted from the first.
  static Fen fee(const Tariff& t, std::int64_t duration_ms);

  explicit ParkingPolicy(Rules rules) : rules_(std::move(rules)) {}
  ScenarioKind kind() const override { return ScenarioKind::parking; }
  Verdict assess(const Tap& tap, const CounterStore& counters) const override;
  Verdict settle_offline(const Tap& tap, const Verdict& assessed,
                         CounterStore& counters) const override;
  void settle_online(const Tap& tap, const Verdict& decided, CounterStore& counters) const override;

 private:
  void record(const Tap& tap, CounterStore& counters) const;
  Rules rules_;
};

// ---- bus (公交) -------------------------------------------------------------------------------

class BusPolicy final : public ScenarioPolicy {
 public:
  struct Rules {
    Fen fare_fen = 0;               // 0: the request's amount
    Fen offline_limit_fen = 0;      // offline floor limit per tap
    Fen offline_daily_cap_fen = 0;  // offline amount per card per day
    int offline_max_taps = 0;       // offline taps per card per day since its last online answer
  };
  explicit BusPolicy(Rules rules) : rules_(rules) {}
  ScenarioKind kind() const override { return ScenarioKind::bus; }
  Verdict assess(const Tap& tap, const CounterStore& counters) const override;
  Verdict settle_offline(const Tap& tap, const Verdict& assessed,
                         CounterStore& counters) const override;
  void settle_online(const Tap& tap, const Verdict& decided, CounterStore& counters) const override;

 private:
  Rules rules_;
};

// ---- scenic spot (景区) ------------------------------------------------------------------------

class ScenicPolicy final : public ScenarioPolicy {
 public:
  struct Rules {
    Fen price_fen = 0;  // 0: the request's amount
    bool free_disabled = true;
    int free_age = 65;  // 0: no free entry by age
    bool free_local = true;
    std::vector<IssuerRegion> local_regions;  // besides the local_resident attribute
    std::vector<AgeTier> tiers;               // highest min_age first
  };
  explicit ScenicPolicy(Rules rules) : rules_(std::move(rules)) {}
  ScenarioKind kind() const override { return ScenarioKind::scenic; }
  Verdict assess(const Tap& tap, const CounterStore& counters) const override;

 private:
  Rules rules_;
};

// ---- identity only: library, museum, hotel, clinic ----------------------------------------------

class IdentityPolicy final : public ScenarioPolicy {
 public:
  explicit IdentityPolicy(ScenarioKind kind);
  ScenarioKind kind() const override { return kind_; }
  Verdict assess(const Tap& tap, const CounterStore& counters) const override;

 private:
  ScenarioKind kind_;
  std::string_view rule_;
};

}  // namespace yktgw
