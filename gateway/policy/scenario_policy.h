#pragma once
// A scenario policy: the rules of one kind of place (canteen, gate, parking, bus, ...) as the
// engine sees them. The engine (PolicyAuthorizer) does what every scenario shares: terminal
// mapping, credential check, deny list, online authorization, unknown cards, the stale-list
// limit. A policy adds only what its kind decides, in three steps:
//   assess          eligibility, price and discount; holds whether or not the platform is asked
//   settle_offline  limits that apply only without the platform, then counts the approval
//   settle_online   the platform answered: count what it approved
// Policies are immutable once built; the counters they read and write live in CounterStore.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/core/holder.h"
#include "gateway/core/reason.h"
#include "gateway/core/records.h"
#include "gateway/policy/local_time.h"

namespace yktgw {

class CounterStore;

enum class ScenarioKind : std::uint8_t {
  canteen,
  gate,
  parking,
  bus,
  scenic,
  library,
  museum,
  hotel,
  clinic,
};
inline constexpr std::size_t kScenarioKindCount = 9;

std::string_view to_string(ScenarioKind k);
std::optional<ScenarioKind> scenario_kind_from(std::string_view s);

enum class OnlineMode : std::uint8_t { never, prefer, required };
enum class UnknownCardRule : std::uint8_t { decline, allow };

// What every scenario has, whatever its kind.
struct ScenarioCommon {
  std::string name;  // the request's `scenario` must equal it
  ScenarioKind kind = ScenarioKind::library;
  int service_item = 0;  // item of the district catalogue
  bool require_mac = false;
  OnlineMode online = OnlineMode::never;
  std::chrono::milliseconds online_deadline{150};
  UnknownCardRule unknown_card = UnknownCardRule::decline;
  // Issuer regions whose cards are let through when not on the list, e.g. 51/52/54 for
  // Sichuan, Guizhou and Tibet cards that the district list does not carry.
  std::vector<IssuerRegion> unknown_card_regions_allowed;
  // Offline approvals above this amount are declined card_list_stale while the card list is
  // older than its maximum age; negative: no such limit.
  Fen stale_offline_limit_fen = -1;
};

// The facts about one tap a policy may look at.
struct Tap {
  const Holder& holder;
  HolderAttributes attributes = 0;  // the credential's OR-ed with the card list's
  bool on_card_list = false;
  Fen requested_fen = 0;  // the request's amount_fen
  UtcMillis now_ms = 0;   // gateway clock, UTC
  LocalTime local;        // the same instant in Asia/Shanghai
};

struct Verdict {
  Reason reason = Reason::ok;
  // Stable rule id, e.g. "canteen.age_80"; points at a literal or into the policy, which the
  // request keeps alive.
  std::string_view rule;
  Fen amount_before_fen = 0;  // price before any discount
  Fen amount_fen = 0;         // to charge
  bool approved() const { return reason == Reason::ok; }
  bool operator==(const Verdict&) const = default;
};

// The rule of a gate approval that is a clock-in (gate clock_in = true): the engine records it
// as attendance.
inline constexpr std::string_view kClockInRule = "gate.clock_in";

inline Verdict decline(Reason reason, std::string_view rule, Fen before = 0) {
  return Verdict{reason, rule, before, 0};
}

class ScenarioPolicy {
 public:
  virtual ~ScenarioPolicy() = default;
  virtual ScenarioKind kind() const = 0;
  virtual Verdict assess(const Tap& tap, const CounterStore& counters) const = 0;
  // `assessed` is approved. Takes counters atomically, so two taps of one card on two workers
  // cannot both pass a cap of one.
  virtual Verdict settle_offline(const Tap& tap, const Verdict& assessed,
                                 CounterStore& counters) const {
    (void)tap;
    (void)counters;
    return assessed;
  }
  // Any platform answer, approved or not (`decided` says which).
  virtual void settle_online(const Tap& tap, const Verdict& decided, CounterStore& counters) const {
    (void)tap;
    (void)decided;
    (void)counters;
  }
};

}  // namespace yktgw
