#include "terminals_sim/sim/expectation.h"

#include <toml++/toml.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace yktgw::sim {
namespace {

constexpr std::int64_t kDayMs = 86'400'000;
constexpr std::int64_t kShanghaiOffsetMs = 8 * 3'600'000;

std::optional<int> hhmm(std::string_view s) {
  if (s.size() != 5 || s[2] != ':') return std::nullopt;
  for (std::size_t i : {0u, 1u, 3u, 4u}) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
  }
  const int h = (s[0] - '0') * 10 + (s[1] - '0');
  const int m = (s[3] - '0') * 10 + (s[4] - '0');
  if (h > 24 || m > 59 || (h == 24 && m != 0)) return std::nullopt;
  return h * 60 + m;
}

bool in_hours(const std::vector<MinuteRange>& hours, int minute) {
  if (hours.empty()) return true;
  return std::any_of(hours.begin(), hours.end(), [&](const MinuteRange& r) {
    return r.begin <= r.end ? (minute >= r.begin && minute < r.end)
                            : (minute >= r.begin || minute < r.end);
  });
}

Result<void> bad(const std::string& file, const std::string& what) {
  return make_error("policy_model", file + ": " + what);
}

Reason deny_reason(CardStatus s) {
  switch (s) {
    case CardStatus::lost:
      return Reason::card_lost;
    case CardStatus::frozen:
      return Reason::card_frozen;
    case CardStatus::cancelled:
      return Reason::card_cancelled;
    default:
      return Reason::ok;
  }
}

Expected approve() { return Expected{Decision::approve, Reason::ok, true}; }
Expected decline(Reason r) { return Expected{Decision::decline, r, true}; }

}  // namespace

bool glob_matches(std::string_view p, std::string_view t) {
  std::size_t pi = 0, ti = 0, star = std::string_view::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == t[ti])) {
      ++pi;
      ++ti;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ti;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

ShanghaiClock shanghai_clock(UtcMillis utc_ms) {
  const std::int64_t local = utc_ms + kShanghaiOffsetMs;
  std::int64_t day = local / kDayMs;
  if (local % kDayMs < 0) --day;
  const std::int64_t ms = local - day * kDayMs;
  return ShanghaiClock{day, static_cast<int>(ms / 60'000)};
}

Result<PolicyModel> PolicyModel::parse(const std::string& text, const std::string& name,
                                       const std::vector<std::string>& groups) {
  toml::table doc;
  try {
    doc = toml::parse(std::string_view(text), std::string_view(name));
  } catch (const toml::parse_error& e) {
    return make_error("policy_model", name + ": " + std::string(e.description()));
  }
  PolicyModel model;
  const toml::table* scenarios = doc["scenario"].as_table();
  if (scenarios == nullptr) return make_error("policy_model", name + ": no [scenario.*] tables");
  for (const auto& [key, node] : *scenarios) {
    const toml::table* t = node.as_table();
    if (t == nullptr) continue;
    ScenarioModel s;
    s.name = std::string(key.str());
    s.kind = (*t)["kind"].value_or(std::string());
    s.service_item = static_cast<int>((*t)["service_item"].value_or(std::int64_t{0}));
    if (s.kind == "clinic") s.online = OnlineRule::required;
    const std::string online = (*t)["online"].value_or(std::string());
    if (online == "prefer") s.online = OnlineRule::prefer;
    if (online == "required") s.online = OnlineRule::required;
    if (online == "never") s.online = OnlineRule::never;
    s.unknown_allow = (*t)["unknown_card"].value_or(std::string()) == "allow";
    if (const auto* regions = (*t)["unknown_card_regions_allowed"].as_array()) {
      for (const auto& r : *regions) s.regions_allowed.push_back(r.value_or(0));
    }
    s.daily_meal_cap = static_cast<int>((*t)["daily_meal_cap"].value_or(std::int64_t{2}));
    if (const auto* allowed = (*t)["allowed_groups"].as_array()) {
      for (const auto& g : *allowed) {
        const std::string gname = g.value_or(std::string());
        if (gname == "disabled") {
          s.allowed |= kAttrDisabled;
        } else if (gname == "local") {
          s.allowed |= kAttrLocalResident;
        } else {
          const auto it = std::find(groups.begin(), groups.end(), gname);
          if (it == groups.end()) {
            auto r = bad(name, "scenario." + s.name + ".allowed_groups names '" + gname +
                                   "', which is not a known group");
            return r.error();
          }
          s.allowed |= HolderAttributes{1}
                       << (kFirstGroupBit + static_cast<int>(it - groups.begin()));
        }
      }
    }
    if (const auto* hours = (*t)["hours"].as_array()) {
      for (const auto& h : *hours) {
        const std::string w = h.value_or(std::string());
        const auto dash = w.find('-');
        const auto b = dash == std::string::npos ? std::nullopt : hhmm(w.substr(0, dash));
        const auto e = dash == std::string::npos ? std::nullopt : hhmm(w.substr(dash + 1));
        if (!b || !e) {
          auto r = bad(name, "scenario." + s.name + ".hours has '" + w + "'");
          return r.error();
        }
        s.hours.push_back(MinuteRange{*b, *e});
      }
    }
    s.lot = (*t)["lot"].value_or(std::string());
    s.entry_side = (*t)["side"].value_or(std::string("entry")) == "entry";
    s.no_entry_max_fee = (*t)["no_entry"].value_or(std::string()) == "max_fee";
    s.fare_fen = (*t)["fare_fen"].value_or(std::int64_t{0});
    s.offline_limit_fen = (*t)["offline_limit_fen"].value_or(std::int64_t{500});
    s.offline_daily_cap_fen = (*t)["offline_daily_cap_fen"].value_or(std::int64_t{2000});
    s.offline_max_taps = static_cast<int>((*t)["offline_max_taps"].value_or(std::int64_t{10}));
    model.scenarios_.push_back(std::move(s));
  }
  if (const auto* terminals = doc["terminal"].as_array()) {
    for (const auto& node : *terminals) {
      const toml::table* t = node.as_table();
      if (t == nullptr) continue;
      model.terminals_.emplace_back((*t)["match"].value_or(std::string()),
                                    (*t)["scenario"].value_or(std::string()));
    }
  }
  return model;
}

Result<PolicyModel> PolicyModel::load(const std::string& path,
                                      const std::vector<std::string>& groups) {
  std::ifstream in(path);
  if (!in) return make_error("policy_model", "cannot read policies file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str(), path, groups);
}

const ScenarioModel* PolicyModel::find(std::string_view name) const {
  for (const auto& s : scenarios_) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

const ScenarioModel* PolicyModel::for_terminal(std::string_view terminal) const {
  for (const auto& [match, scenario] : terminals_) {
    if (match == terminal) return find(scenario);
  }
  for (const auto& [match, scenario] : terminals_) {
    if (glob_matches(match, terminal)) return find(scenario);
  }
  return nullptr;
}

int ExpectationModel::meals(std::uint32_t card, std::int64_t day) const {
  const auto it = meals_.find(card);
  return it != meals_.end() && it->second.day == day ? it->second.count : 0;
}

Expected ExpectationModel::expect(const TapFacts& tap, UtcMillis sent_ms,
                                  UtcMillis answered_ms) const {
  Expected a = expect_at(tap, sent_ms);
  const Expected b = expect_at(tap, answered_ms);
  if (a.decision != b.decision || a.reason != b.reason) a.certain = false;
  a.certain = a.certain && b.certain;
  return a;
}

Expected ExpectationModel::expect_at(const TapFacts& tap, UtcMillis now_ms) const {
  if (tap.scenario == nullptr) return decline(Reason::unknown_terminal);
  if (!tap.scenario_matches) return decline(Reason::scenario_mismatch);
  if (tap.credential == CredentialType::other) return approve();  // recorded, not decided
  const ScenarioModel& s = *tap.scenario;
  const Card& card = cards_[tap.card];
  if (const Reason deny = deny_reason(card.status); deny != Reason::ok) return decline(deny);
  const bool on_list = card.status != CardStatus::unknown;
  const bool qr =
      tap.credential == CredentialType::ecard_qr || tap.credential == CredentialType::ykm_qr;
  // A QR code carries the holder's attributes; a physical card has only the list's.
  const HolderAttributes attributes = (on_list || qr) ? card.attributes : 0;
  const ShanghaiClock at = shanghai_clock(now_ms);

  // The scenario's own rules, whether or not the platform is asked.
  if (s.kind == "canteen") {
    if (s.daily_meal_cap > 0 && meals(tap.card, at.day) >= s.daily_meal_cap) {
      return decline(Reason::daily_cap_reached);
    }
  } else if (s.kind == "gate") {
    if (s.allowed != 0 && (attributes & s.allowed) == 0) return decline(Reason::group_not_allowed);
    if (!in_hours(s.hours, at.minute)) return decline(Reason::outside_hours);
  } else if (s.kind == "parking" && !s.entry_side && !s.no_entry_max_fee) {
    const auto lot = parking_.find(s.lot);
    if (lot == parking_.end() || !lot->second.contains(tap.card)) {
      return decline(Reason::no_entry_record);
    }
  }

  if (s.online != OnlineRule::never && tap.platform_answered) {
    // ykt-platform-sim: approves the cards it lists as active, declines the ones it does not know.
    return on_list ? approve() : decline(Reason::unknown_card);
  }
  if (s.online == OnlineRule::required) return decline(Reason::online_required);
  return offline(tap, s, on_list, at);
}

Expected ExpectationModel::offline(const TapFacts& tap, const ScenarioModel& s, bool on_list,
                                   const ShanghaiClock& at) const {
  if (!on_list) {
    const int region = issuer_region(cards_[tap.card].card_no);
    const bool allowed =
        s.unknown_allow || std::find(s.regions_allowed.begin(), s.regions_allowed.end(), region) !=
                               s.regions_allowed.end();
    if (!allowed) return decline(Reason::unknown_card);
  }
  if (s.kind == "bus") {
    // The simulator's bus terminals ask for the fare (fare_fen when the policy sets one).
    const Fen fare = s.fare_fen > 0 ? s.fare_fen : 200;
    if (fare > s.offline_limit_fen) return decline(Reason::offline_limit_exceeded);
    DayCount c;
    if (const auto it = bus_.find(tap.card); it != bus_.end() && it->second.day == at.day) {
      c = it->second;
    }
    const bool over_amount = c.amount + fare > s.offline_daily_cap_fen;
    const bool over_taps = c.run >= s.offline_max_taps;
    if (over_amount && over_taps) {
      // The documentation does not say which limit is reported when both are reached.
      Expected e = decline(Reason::offline_daily_cap_reached);
      e.certain = false;
      return e;
    }
    if (over_amount) return decline(Reason::offline_daily_cap_reached);
    if (over_taps) return decline(Reason::offline_tap_cap_reached);
  }
  return approve();
}

void ExpectationModel::record(const TapFacts& tap, Decision decided, UtcMillis now_ms) {
  if (tap.scenario == nullptr || !tap.scenario_matches || tap.credential == CredentialType::other) {
    return;
  }
  const ScenarioModel& s = *tap.scenario;
  const ShanghaiClock at = shanghai_clock(now_ms);
  const bool approved = decided == Decision::approve;
  if (s.kind == "canteen" && approved) {
    DayCount& c = meals_[tap.card];
    if (c.day != at.day) c = DayCount{at.day};
    ++c.count;
  } else if (s.kind == "parking" && approved) {
    if (s.entry_side) {
      parking_[s.lot][tap.card] = now_ms;
    } else {
      parking_[s.lot].erase(tap.card);
    }
  } else if (s.kind == "bus") {
    DayCount& c = bus_[tap.card];
    if (c.day != at.day) c = DayCount{at.day};
    if (tap.platform_answered) {
      c.run = 0;
    } else if (approved) {
      c.amount += s.fare_fen > 0 ? s.fare_fen : 200;
      ++c.run;
    }
  }
}

std::vector<std::uint32_t> ExpectationModel::parked(const std::string& lot) const {
  std::vector<std::uint32_t> out;
  const auto it = parking_.find(lot);
  if (it == parking_.end()) return out;
  for (const auto& [card, at] : it->second) out.push_back(card);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace yktgw::sim
