#include "gateway/policy/kinds.h"

#include <algorithm>
#include <charconv>

#include "gateway/policy/counter_store.h"

namespace yktgw {
namespace {

constexpr std::int64_t kMinuteMs = 60'000;

std::optional<int> parse_hhmm(std::string_view s) {
  if (s.size() != 5 || s[2] != ':') return std::nullopt;
  int h = 0;
  int m = 0;
  const auto [e1, ec1] = std::from_chars(s.data(), s.data() + 2, h);
  const auto [e2, ec2] = std::from_chars(s.data() + 3, s.data() + 5, m);
  if (ec1 != std::errc() || ec2 != std::errc() || e1 != s.data() + 2 || e2 != s.data() + 5) {
    return std::nullopt;
  }
  if (h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0)) return std::nullopt;
  return h * 60 + m;
}

}  // namespace

std::string_view to_string(ScenarioKind k) {
  switch (k) {
    case ScenarioKind::canteen:
      return "canteen";
    case ScenarioKind::gate:
      return "gate";
    case ScenarioKind::parking:
      return "parking";
    case ScenarioKind::bus:
      return "bus";
    case ScenarioKind::scenic:
      return "scenic";
    case ScenarioKind::library:
      return "library";
    case ScenarioKind::museum:
      return "museum";
    case ScenarioKind::hotel:
      return "hotel";
    case ScenarioKind::clinic:
      return "clinic";
  }
  return "unknown";
}

std::optional<ScenarioKind> scenario_kind_from(std::string_view s) {
  for (std::size_t i = 0; i < kScenarioKindCount; ++i) {
    const auto k = static_cast<ScenarioKind>(i);
    if (to_string(k) == s) return k;
  }
  return std::nullopt;
}

Fen discounted(Fen amount, int percent_off) {
  if (amount <= 0) return 0;
  const int pct = std::clamp(percent_off, 0, 100);
  // Amounts are at most 10^9 fen (protocol limit): the product stays far inside 64 bits.
  return amount * (100 - pct) / 100;
}

const AgeTier* tier_for(const std::vector<AgeTier>& tiers, int age) {
  if (age < 0) return nullptr;
  for (const AgeTier& t : tiers) {
    if (age >= t.min_age) return &t;
  }
  return nullptr;
}

std::optional<MinuteWindow> parse_window(std::string_view text) {
  const auto dash = text.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  const auto b = parse_hhmm(text.substr(0, dash));
  const auto e = parse_hhmm(text.substr(dash + 1));
  if (!b || !e || *b == *e || *b == 24 * 60) return std::nullopt;
  // 24:00 as an end is midnight; keeping 1440 makes "00:00-24:00" a plain non-wrapping window.
  return MinuteWindow{*b, *e};
}

// ---- canteen ----------------------------------------------------------------------------------

Verdict CanteenPolicy::assess(const Tap& tap, const CounterStore& counters) const {
  const Fen price = std::max<Fen>(tap.requested_fen, 0);
  if (rules_.daily_meal_cap > 0 &&
      counters.meals(tap.holder.token, tap.local.day) >= rules_.daily_meal_cap) {
    return decline(Reason::daily_cap_reached, "canteen.daily_cap", price);
  }
  const AgeTier* tier = tier_for(rules_.tiers, age_on(tap.holder.birth, tap.local.date));
  if (tier == nullptr) return Verdict{Reason::ok, "canteen.full_price", price, price};
  return Verdict{Reason::ok, tier->rule, price, discounted(price, tier->percent_off)};
}

Verdict CanteenPolicy::settle_offline(const Tap& tap, const Verdict& assessed,
                                      CounterStore& counters) const {
  if (!counters.try_add_meal(tap.holder.token, tap.local.day, rules_.daily_meal_cap)) {
    return decline(Reason::daily_cap_reached, "canteen.daily_cap", assessed.amount_before_fen);
  }
  return assessed;
}

void CanteenPolicy::settle_online(const Tap& tap, const Verdict& decided,
                                  CounterStore& counters) const {
  if (decided.approved()) counters.add_meal(tap.holder.token, tap.local.day);
}

// ---- gate -------------------------------------------------------------------------------------

Verdict GatePolicy::assess(const Tap& tap, const CounterStore&) const {
  if (rules_.allowed != 0 && (tap.attributes & rules_.allowed) == 0) {
    return decline(Reason::group_not_allowed, "gate.group");
  }
  if (!rules_.hours.empty() &&
      std::none_of(rules_.hours.begin(), rules_.hours.end(),
                   [&](const MinuteWindow& w) { return w.contains(tap.local.minute_of_day); })) {
    return decline(Reason::outside_hours, "gate.hours");
  }
  return Verdict{Reason::ok, rules_.clock_in ? kClockInRule : std::string_view("gate.open"), 0, 0};
}

// ---- parking ----------------------------------------------------------------------------------

Fen ParkingPolicy::fee(const Tariff& t, std::int64_t duration_ms) {
  const std::int64_t free_ms = static_cast<std::int64_t>(t.free_minutes) * kMinuteMs;
  if (duration_ms <= free_ms) return 0;
  const std::int64_t unit_ms = std::max<std::int64_t>(t.unit_minutes, 1) * kMinuteMs;
  auto units = [&](std::int64_t ms) { return ms <= 0 ? 0 : (ms + unit_ms - 1) / unit_ms; };
  if (t.daily_cap_fen <= 0) return units(duration_ms - free_ms) * t.unit_fee_fen;
  // Each started 24 hours from entry is charged on its own and capped on its own; the free
  // minutes come off the first. A stay of 24 h and one minute costs one day's cap plus one
  // unit, not two caps.
  auto period = [&](std::int64_t ms, std::int64_t free) {
    return std::min(units(ms - free) * t.unit_fee_fen, t.daily_cap_fen);
  };
  const std::int64_t first = std::min(duration_ms, kDayMs);
  const std::int64_t rest = duration_ms - first;
  return period(first, free_ms) + (rest / kDayMs) * period(kDayMs, 0) + period(rest % kDayMs, 0);
}

Verdict ParkingPolicy::assess(const Tap& tap, const CounterStore& counters) const {
  if (rules_.side == Side::entry) return Verdict{Reason::ok, "parking.entry", 0, 0};
  const auto entered = counters.parking_entry(rules_.lot, tap.holder.token);
  if (!entered) {
    if (rules_.no_entry == NoEntry::decline) {
      return decline(Reason::no_entry_record, "parking.no_entry");
    }
    const Fen cap = rules_.tariff.daily_cap_fen;
    return Verdict{Reason::ok, "parking.no_entry_max_fee", cap, cap};
  }
  // A terminal clock running behind the entry terminal's must not make a negative stay.
  const Fen amount = fee(rules_.tariff, std::max<std::int64_t>(0, tap.now_ms - *entered));
  return Verdict{Reason::ok, amount == 0 ? "parking.free" : "parking.fee", amount, amount};
}

void ParkingPolicy::record(const Tap& tap, CounterStore& counters) const {
  // A second entry without an exit (gate opened by hand, exit tap lost) replaces the first:
  // the later entry is the one the car is parked on now.
  if (rules_.side == Side::entry) {
    counters.set_parking_entry(rules_.lot, tap.holder.token, tap.now_ms);
  } else {
    counters.clear_parking_entry(rules_.lot, tap.holder.token);
  }
}

Verdict ParkingPolicy::settle_offline(const Tap& tap, const Verdict& assessed,
                                      CounterStore& counters) const {
  record(tap, counters);
  return assessed;
}

void ParkingPolicy::settle_online(const Tap& tap, const Verdict& decided,
                                  CounterStore& counters) const {
  if (decided.approved()) record(tap, counters);
}

// ---- bus --------------------------------------------------------------------------------------

Verdict BusPolicy::assess(const Tap& tap, const CounterStore&) const {
  const Fen fare = rules_.fare_fen > 0 ? rules_.fare_fen : std::max<Fen>(tap.requested_fen, 0);
  return Verdict{Reason::ok, "bus.fare", fare, fare};
}

Verdict BusPolicy::settle_offline(const Tap& tap, const Verdict& assessed,
                                  CounterStore& counters) const {
  const Fen fare = assessed.amount_fen;
  if (fare > rules_.offline_limit_fen) {
    return decline(Reason::offline_limit_exceeded, "bus.offline_floor", fare);
  }
  switch (counters.try_take_offline(tap.holder.token, tap.local.day, fare,
                                    rules_.offline_daily_cap_fen, rules_.offline_max_taps)) {
    case OfflineTake::taken:
      return assessed;
    case OfflineTake::daily_cap:
      return decline(Reason::offline_daily_cap_reached, "bus.offline_daily_cap", fare);
    case OfflineTake::tap_cap:
      return decline(Reason::offline_tap_cap_reached, "bus.offline_taps", fare);
  }
  return assessed;
}

void BusPolicy::settle_online(const Tap& tap, const Verdict&, CounterStore& counters) const {
  counters.online_contact(tap.holder.token, tap.local.day);
}

// ---- scenic -----------------------------------------------------------------------------------

Verdict ScenicPolicy::assess(const Tap& tap, const CounterStore&) const {
  const Fen price = rules_.price_fen > 0 ? rules_.price_fen : std::max<Fen>(tap.requested_fen, 0);
  const int age = age_on(tap.holder.birth, tap.local.date);
  if (rules_.free_disabled && (tap.attributes & kAttrDisabled) != 0) {
    return Verdict{Reason::ok, "scenic.free_disabled", price, 0};
  }
  if (rules_.free_age > 0 && age >= rules_.free_age) {
    return Verdict{Reason::ok, "scenic.free_age", price, 0};
  }
  if (rules_.free_local && ((tap.attributes & kAttrLocalResident) != 0 ||
                            std::find(rules_.local_regions.begin(), rules_.local_regions.end(),
                                      tap.holder.region) != rules_.local_regions.end())) {
    return Verdict{Reason::ok, "scenic.free_local", price, 0};
  }
  if (const AgeTier* tier = tier_for(rules_.tiers, age)) {
    return Verdict{Reason::ok, tier->rule, price, discounted(price, tier->percent_off)};
  }
  return Verdict{Reason::ok, "scenic.full_price", price, price};
}

// ---- identity only ----------------------------------------------------------------------------

IdentityPolicy::IdentityPolicy(ScenarioKind kind) : kind_(kind) {
  switch (kind) {
    case ScenarioKind::library:
      rule_ = "library.identity";
      break;
    case ScenarioKind::museum:
      rule_ = "museum.identity";
      break;
    case ScenarioKind::hotel:
      rule_ = "hotel.identity";
      break;
    case ScenarioKind::clinic:
      rule_ = "clinic.identity";
      break;
    default:
      rule_ = "identity";
      break;
  }
}

Verdict IdentityPolicy::assess(const Tap&, const CounterStore&) const {
  return Verdict{Reason::ok, rule_, 0, 0};
}

}  // namespace yktgw
