#pragma once
// The simulator's own model of what the gateway should decide, so a run can count mismatches.
// It is written from docs/policies.md, not from the gateway's code: it reads the same policies
// file (only the keys that change a decision, with the documented defaults) and keeps the
// per-card state the rules depend on (meals today, parking entries, bus offline taps).
//
// What the model takes as given rather than predicts:
//   - whether the platform answered: the response's `mode` (online/offline) says so, and the
//     model then applies the platform's rules or the offline rules;
//   - the platform is ykt-platform-sim with the same population: it approves active cards and
//     declines cards it does not list with unknown_card;
//   - the card list is the platform's (feed or `yktgw-sim population` import) and not stale;
//   - every QR code is freshly minted with a key the gateway trusts;
//   - counters start from what this run has seen (a fresh gateway state, or other cards).
// Decisions near a boundary (opening hours, Shanghai midnight) are computed at the send and at
// the receive time; when the two differ, the tap is not counted either way.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gateway/core/holder.h"
#include "gateway/core/reason.h"
#include "gateway/core/records.h"
#include "gateway/core/result.h"
#include "terminals_sim/sim/population.h"

namespace yktgw::sim {

enum class OnlineRule : std::uint8_t { never, prefer, required };

struct MinuteRange {
  int begin = 0;  // minutes of the Shanghai day, [begin, end); end < begin wraps midnight
  int end = 0;
  bool operator==(const MinuteRange&) const = default;
};

// One [scenario.NAME] as far as decisions go.
struct ScenarioModel {
  std::string name;
  std::string kind;
  int service_item = 0;  // every answer for the scenario names it
  OnlineRule online = OnlineRule::never;
  bool unknown_allow = false;
  std::vector<int> regions_allowed;
  int daily_meal_cap = 2;          // canteen
  HolderAttributes allowed = 0;    // gate; 0: everyone
  std::vector<MinuteRange> hours;  // gate; empty: always
  std::string lot;                 // parking
  bool entry_side = true;          // parking
  bool no_entry_max_fee = false;   // parking exit
  Fen fare_fen = 0;                // bus; 0: the request's amount
  Fen offline_limit_fen = 500;     // bus
  Fen offline_daily_cap_fen = 2000;
  int offline_max_taps = 10;
};

class PolicyModel {
 public:
  // `groups` are the gateway's cardlist.groups in bit order (holder_groups() by default).
  static Result<PolicyModel> parse(const std::string& text, const std::string& name,
                                   const std::vector<std::string>& groups);
  static Result<PolicyModel> load(const std::string& path, const std::vector<std::string>& groups);

  // Exact ids first, then the first pattern in file order; nullptr when unassigned.
  const ScenarioModel* for_terminal(std::string_view terminal) const;
  const ScenarioModel* find(std::string_view name) const;
  std::size_t size() const { return scenarios_.size(); }

 private:
  std::vector<ScenarioModel> scenarios_;
  std::vector<std::pair<std::string, std::string>> terminals_;  // match, scenario; file order
};

bool glob_matches(std::string_view pattern, std::string_view text);

struct Expected {
  Decision decision = Decision::approve;
  Reason reason = Reason::ok;
  bool certain = true;  // false: a boundary fell between send and receive, or rules collide
  bool operator==(const Expected&) const = default;
};

// Shanghai day number and minute of the day of a UTC instant.
struct ShanghaiClock {
  std::int64_t day = 0;
  int minute = 0;
};
ShanghaiClock shanghai_clock(UtcMillis utc_ms);

// One tap as the model sees it.
struct TapFacts {
  const ScenarioModel* scenario = nullptr;  // nullptr: the terminal is not assigned
  std::uint32_t card = 0;                   // index into the population
  CredentialType credential = CredentialType::card;
  bool platform_answered = false;  // the response's mode was online
  bool scenario_matches = true;    // the request named the terminal's scenario
};

class ExpectationModel {
 public:
  explicit ExpectationModel(const Population& cards) : cards_(cards) {}

  // What the gateway should answer for a tap sent at `sent_ms` and answered at `answered_ms`.
  Expected expect(const TapFacts& tap, UtcMillis sent_ms, UtcMillis answered_ms) const;
  // The rules at one instant.
  Expected expect_at(const TapFacts& tap, UtcMillis now_ms) const;

  // What the gateway actually answered: moves the per-card counters the way the gateway moves
  // its own, so one mismatch does not make every later tap of the card mismatch too.
  void record(const TapFacts& tap, Decision decided, UtcMillis now_ms);

  // Cards with an approved entry and no exit yet in `lot`.
  std::vector<std::uint32_t> parked(const std::string& lot) const;

 private:
  struct DayCount {
    std::int64_t day = -1;
    int count = 0;
    Fen amount = 0;
    int run = 0;  // bus: offline taps since the last platform answer
  };
  Expected offline(const TapFacts& tap, const ScenarioModel& s, bool on_list,
                   const ShanghaiClock& at) const;
  int meals(std::uint32_t card, std::int64_t day) const;

  const Population& cards_;
  std::unordered_map<std::uint32_t, DayCount> meals_;
  std::unordered_map<std::uint32_t, DayCount> bus_;
  std::map<std::string, std::unordered_map<std::uint32_t, UtcMillis>> parking_;
};

}  // namespace yktgw::sim
