#include "gateway/policy/policies.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "gateway/core/errno_message.h"
#include "gateway/policy/kinds.h"
#include "gateway/policy/policy_schema.h"
#include "gateway/policy/toml_fields.h"

namespace yktgw {

using policy_file::Fields;
using policy_file::Reader;
using policy_file::SourcePos;

bool glob_match(std::string_view pattern, std::string_view text) {
  std::size_t p = 0;
  std::size_t t = 0;
  std::size_t star = std::string_view::npos;
  std::size_t resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

const ScenarioPolicies::Scenario* ScenarioPolicies::for_terminal(std::string_view terminal) const {
  if (const auto it = exact_.find(terminal); it != exact_.end()) return it->second;
  for (const auto& [pattern, scenario] : patterns_) {
    if (glob_match(pattern, terminal)) return scenario;
  }
  return nullptr;
}

const ScenarioPolicies::Scenario* ScenarioPolicies::find(std::string_view name) const {
  for (const auto& s : scenarios_) {
    if (s->common.name == name) return s.get();
  }
  return nullptr;
}

namespace {

bool is_scenario_name(std::string_view s) {
  return !s.empty() && s.size() <= 32 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool is_lot_name(std::string_view s) {
  return !s.empty() && s.size() <= 32 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

bool is_terminal_pattern(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-' || c == '*' || c == '?';
  });
}

std::string list_text(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    out += items[i];
  }
  return out + "]";
}

// Every kind's keys, none required: what a scenario with a bad kind is read with.
const std::vector<policy_file::FieldSpec>& any_kind_keys() {
  static const std::vector<policy_file::FieldSpec> keys = [] {
    std::vector<policy_file::FieldSpec> all;
    for (std::size_t i = 0; i < kScenarioKindCount; ++i) {
      for (policy_file::FieldSpec s : policy_kind_keys(static_cast<ScenarioKind>(i))) {
        if (s.required) {
          s.required = false;
          s.choices.clear();
          s.default_text = s.type == policy_file::FieldType::integer ? "0" : "\"\"";
        }
        if (std::none_of(all.begin(), all.end(), [&](const auto& a) { return a.name == s.name; }))
          all.push_back(std::move(s));
      }
    }
    return all;
  }();
  return keys;
}

}  // namespace

// Turns checked tables into policies; semantic problems (a bad time window, an unknown group,
// a scenario a terminal names but nobody declared) go to the reader with their position.
class PolicyBuilder {
 public:
  PolicyBuilder(Reader& reader, const PolicyLoadOptions& options)
      : reader_(reader), options_(options) {}

  // Two passes: first every table against its declared keys (types, ranges, choices), then the
  // checks that need whole values. A value refused in the first pass would otherwise show up
  // again in the second as a confusing follow-on error.
  Result<std::shared_ptr<const ScenarioPolicies>> build(const toml::table& doc) {
    auto out = std::make_shared<ScenarioPolicies>();
    out->source_ = reader_.file();
    const std::vector<policy_file::FieldSpec>* top_sets[] = {&policy_top_keys()};
    const Fields top = reader_.read(doc, "", SourcePos{1, 1}, top_sets, {}, "scenario");

    struct Read {
      std::string name;
      ScenarioKind kind;
      Fields fields;
    };
    std::vector<Read> read;
    if (const toml::node* node = doc.get("scenario")) {
      if (const toml::table* scenarios = node->as_table()) {
        for (auto&& [key, value] : *scenarios) {
          const std::string path = "scenario." + std::string(key.str());
          const SourcePos kpos = policy_file::pos_of(key.source());
          if (!is_scenario_name(key.str())) {
            reader_.fail(kpos, "invalid_value",
                         "scenario name '" + std::string(key.str()) +
                             "' must be 1-32 of a-z 0-9 _ (it is the request's scenario field)");
            continue;
          }
          const toml::table* t = value.as_table();
          if (t == nullptr) {
            reader_.fail(policy_file::pos_of(value.source()), "wrong_type",
                         "key '" + path + "' must be a table");
            continue;
          }
          std::optional<ScenarioKind> kind;
          Fields f = read_scenario(*t, path, kpos, kind);
          if (kind) read.push_back(Read{std::string(key.str()), *kind, std::move(f)});
        }
      } else {
        reader_.fail(policy_file::pos_of(node->source()), "wrong_type",
                     "key 'scenario' must be a table of named scenarios");
      }
    }
    if (auto r = reader_.first_problem(); !r) return r.error();

    for (const Read& r : read) out->scenarios_.push_back(scenario(r.name, r.kind, r.fields));
    check_lots();
    for (const Fields& t : top.tables("terminal")) terminal(t, *out);
    if (auto r = reader_.first_problem(); !r) return r.error();
    return std::shared_ptr<const ScenarioPolicies>(std::move(out));
  }

 private:
  Fields read_scenario(const toml::table& t, const std::string& path, SourcePos pos,
                       std::optional<ScenarioKind>& kind) {
    if (const auto* k = t.get_as<std::string>("kind")) kind = scenario_kind_from(k->get());
    std::vector<const std::vector<policy_file::FieldSpec>*> sets = {&policy_common_keys()};
    std::string hint;
    if (kind) {
      sets.push_back(&policy_kind_keys(*kind));
      hint = "not a key of kind " + std::string(to_string(*kind));
    } else {
      // The kind's own error says what is wrong; do not add one per kind-specific key.
      sets.push_back(&any_kind_keys());
    }
    return reader_.read(t, path, pos, sets, hint);
  }

  std::unique_ptr<const ScenarioPolicies::Scenario> scenario(const std::string& name,
                                                             ScenarioKind kind, const Fields& f) {
    auto s = std::make_unique<ScenarioPolicies::Scenario>();
    ScenarioCommon& c = s->common;
    c.name = name;
    c.kind = kind;
    c.service_item = static_cast<int>(f.integer("service_item"));
    c.require_mac = f.boolean("require_mac");
    const std::string& online = f.text("online");
    c.online = online == "prefer"     ? OnlineMode::prefer
               : online == "required" ? OnlineMode::required
                                      : OnlineMode::never;
    if (kind == ScenarioKind::clinic) {
      // 就医购药 is decided by the medical-insurance platform; the box never approves it alone.
      if (f.given("online") && c.online != OnlineMode::required) {
        reader_.invalid(f, "online", online, "clinic scenarios are online only: use \"required\"");
      }
      c.online = OnlineMode::required;
    }
    c.online_deadline = std::chrono::milliseconds(f.integer("online_deadline_ms"));
    c.unknown_card =
        f.text("unknown_card") == "allow" ? UnknownCardRule::allow : UnknownCardRule::decline;
    for (std::int64_t r : f.integers("unknown_card_regions_allowed"))
      c.unknown_card_regions_allowed.push_back(static_cast<IssuerRegion>(r));
    c.stale_offline_limit_fen = f.integer("stale_offline_limit_fen");
    check_service_item(f, c.service_item);

    switch (kind) {
      case ScenarioKind::canteen:
        s->policy = std::make_unique<CanteenPolicy>(CanteenPolicy::Rules{
            age_tiers(f, "canteen"), static_cast<int>(f.integer("daily_meal_cap"))});
        break;
      case ScenarioKind::gate:
        s->policy = gate(f);
        break;
      case ScenarioKind::parking:
        s->policy = parking(f);
        break;
      case ScenarioKind::bus:
        s->policy = std::make_unique<BusPolicy>(BusPolicy::Rules{
            f.integer("fare_fen"), f.integer("offline_limit_fen"),
            f.integer("offline_daily_cap_fen"), static_cast<int>(f.integer("offline_max_taps"))});
        break;
      case ScenarioKind::scenic: {
        ScenicPolicy::Rules r;
        r.price_fen = f.integer("price_fen");
        r.free_disabled = f.boolean("free_disabled");
        r.free_age = static_cast<int>(f.integer("free_age"));
        r.free_local = f.boolean("free_local");
        for (std::int64_t v : f.integers("local_regions"))
          r.local_regions.push_back(static_cast<IssuerRegion>(v));
        r.tiers = age_tiers(f, "scenic");
        s->policy = std::make_unique<ScenicPolicy>(std::move(r));
        break;
      }
      case ScenarioKind::library:
      case ScenarioKind::museum:
      case ScenarioKind::hotel:
      case ScenarioKind::clinic:
        s->policy = std::make_unique<IdentityPolicy>(kind);
        break;
    }
    return s;
  }

  void check_service_item(const Fields& f, int number) {
    if (!options_.catalog) return;
    const ServiceItem* item = options_.catalog->find(number);
    if (item == nullptr) {
      reader_.invalid(f, "service_item", std::to_string(number),
                      "no such item in the service catalogue (1.." +
                          std::to_string(options_.catalog->items().size()) + ")");
    } else if (item->card_forms.empty()) {
      reader_.invalid(f, "service_item", std::to_string(number),
                      "item " + std::to_string(number) + " (" + item->name +
                          ") is a support task with no card use");
    }
  }

  std::vector<AgeTier> age_tiers(const Fields& f, std::string_view kind) {
    std::vector<AgeTier> tiers;
    std::set<int> seen;
    for (const Fields& t : f.tables("tiers")) {
      AgeTier tier;
      tier.min_age = static_cast<int>(t.integer("min_age"));
      tier.percent_off = static_cast<int>(t.integer("percent_off"));
      tier.rule = std::string(kind) + ".age_" + std::to_string(tier.min_age);
      if (!seen.insert(tier.min_age).second) {
        reader_.invalid(t, "min_age", std::to_string(tier.min_age),
                        "another tier already starts at this age");
      }
      tiers.push_back(std::move(tier));
    }
    std::sort(tiers.begin(), tiers.end(),
              [](const AgeTier& a, const AgeTier& b) { return a.min_age > b.min_age; });
    return tiers;
  }

  std::unique_ptr<ScenarioPolicy> gate(const Fields& f) {
    GatePolicy::Rules r;
    const auto& groups = f.strings("allowed_groups");
    for (std::size_t i = 0; i < groups.size(); ++i) {
      const std::string& g = groups[i];
      if (g == "disabled") {
        r.allowed |= kAttrDisabled;
        continue;
      }
      if (g == "local") {
        r.allowed |= kAttrLocalResident;
        continue;
      }
      const auto& names = options_.group_names;
      const auto it = std::find(names.begin(), names.end(), g);
      if (it == names.end() || it - names.begin() >= kMaxGroups) {
        reader_.fail(f.item_pos("allowed_groups", i), "invalid_value",
                     "key '" + f.key_path("allowed_groups") + "[" + std::to_string(i) +
                         "]' names unknown group '" + g +
                         "': expected disabled, local or one of cardlist.groups " +
                         list_text(names));
        continue;
      }
      r.allowed |= HolderAttributes{1} << (kFirstGroupBit + (it - names.begin()));
    }
    const auto& hours = f.strings("hours");
    for (std::size_t i = 0; i < hours.size(); ++i) {
      if (auto w = parse_window(hours[i])) {
        r.hours.push_back(*w);
      } else {
        reader_.fail(f.item_pos("hours", i), "invalid_value",
                     "key '" + f.key_path("hours") + "[" + std::to_string(i) +
                         "]' has invalid value '" + hours[i] +
                         "': expected \"HH:MM-HH:MM\" between 00:00 and 24:00, start != end");
      }
    }
    r.clock_in = f.boolean("clock_in");
    return std::make_unique<GatePolicy>(std::move(r));
  }

  std::unique_ptr<ScenarioPolicy> parking(const Fields& f) {
    ParkingPolicy::Rules r;
    r.lot = f.text("lot");
    if (!is_lot_name(r.lot)) {
      reader_.invalid(f, "lot", r.lot, "expected 1-32 of a-z 0-9 _ -");
    }
    r.side = f.text("side") == "exit" ? ParkingPolicy::Side::exit : ParkingPolicy::Side::entry;
    if (r.side == ParkingPolicy::Side::entry) {
      for (const auto& [key, entry] : f.entries) {
        if (entry.given && parking_exit_only(key)) {
          reader_.fail(entry.pos, "invalid_value",
                       "key '" + f.key_path(key) + "' applies to side = \"exit\" only");
        }
      }
    }
    r.tariff.free_minutes = static_cast<int>(f.integer("free_minutes"));
    r.tariff.unit_minutes = static_cast<int>(f.integer("unit_minutes"));
    r.tariff.unit_fee_fen = f.integer("unit_fee_fen");
    r.tariff.daily_cap_fen = f.integer("daily_cap_fen");
    r.no_entry = f.text("no_entry") == "max_fee" ? ParkingPolicy::NoEntry::max_fee
                                                 : ParkingPolicy::NoEntry::decline;
    if (r.side == ParkingPolicy::Side::exit && r.no_entry == ParkingPolicy::NoEntry::max_fee &&
        r.tariff.daily_cap_fen <= 0) {
      reader_.invalid(f, "no_entry", "max_fee", "needs daily_cap_fen > 0 to know what to charge");
    }
    lots_[r.lot].push_back({r.side, f.pos});
    return std::make_unique<ParkingPolicy>(std::move(r));
  }

  // An exit that no entry scenario feeds would decline (or charge the maximum) every car.
  void check_lots() {
    for (const auto& [lot, sides] : lots_) {
      const bool has_entry = std::any_of(sides.begin(), sides.end(), [](const auto& s) {
        return s.first == ParkingPolicy::Side::entry;
      });
      for (const auto& [side, pos] : sides) {
        if (side == ParkingPolicy::Side::exit && !has_entry) {
          reader_.fail(pos, "invalid_value",
                       "parking lot '" + lot + "' has an exit scenario but no entry scenario");
        }
      }
    }
  }

  void terminal(const Fields& t, ScenarioPolicies& out) {
    const std::string& match = t.text("match");
    const std::string& name = t.text("scenario");
    if (!is_terminal_pattern(match)) {
      reader_.invalid(t, "match", match,
                      "expected 1-64 of A-Z a-z 0-9 _ . - and the wildcards * ?");
      return;
    }
    const ScenarioPolicies::Scenario* s = out.find(name);
    if (s == nullptr) {
      reader_.invalid(t, "scenario", name, "no [scenario." + name + "] in this file");
      return;
    }
    if (!seen_matches_.insert(match).second) {
      reader_.invalid(t, "match", match, "another [[terminal]] has the same match");
      return;
    }
    if (match.find_first_of("*?") == std::string::npos) {
      out.exact_.emplace(match, s);
    } else {
      out.patterns_.emplace_back(match, s);
    }
  }

  Reader& reader_;
  const PolicyLoadOptions& options_;
  std::map<std::string, std::vector<std::pair<ParkingPolicy::Side, SourcePos>>> lots_;
  std::set<std::string> seen_matches_;
};

Result<std::shared_ptr<const ScenarioPolicies>> parse_policies(const std::string& text,
                                                               const std::string& name,
                                                               const PolicyLoadOptions& options) {
  Reader reader(name);
  auto doc = reader.parse(text);
  if (!doc) return doc.error();
  try {
    return PolicyBuilder(reader, options).build(*doc);
  } catch (const std::exception& e) {  // allocation failure; never let it out of a reload
    return make_error("internal", name + ": " + e.what());
  }
}

Result<std::shared_ptr<const ScenarioPolicies>> load_policies(const std::string& path,
                                                              const PolicyLoadOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("io", "cannot read '" + path + "': " + errno_message());
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return make_error("io", "cannot read '" + path + "': " + errno_message());
  return parse_policies(buf.str(), path, options);
}

// ---- PolicyFile -------------------------------------------------------------------------------

PolicyFile::PolicyFile(std::shared_ptr<const ScenarioPolicies> policies)
    : current_(std::move(policies)) {}

PolicyFile::PolicyFile(std::string path, PolicyLoadOptions options,
                       std::shared_ptr<const ScenarioPolicies> policies)
    : path_(std::move(path)), options_(std::move(options)), current_(std::move(policies)) {}

Result<std::unique_ptr<PolicyFile>> PolicyFile::open(std::string path, PolicyLoadOptions options) {
  auto policies = load_policies(path, options);
  if (!policies) return policies.error();
  return std::unique_ptr<PolicyFile>(
      new PolicyFile(std::move(path), std::move(options), std::move(policies.value())));
}

Result<void> PolicyFile::reload() {
  if (path_.empty()) return make_error("io", "these policies were not loaded from a file");
  auto next = load_policies(path_, options_);
  if (!next) return next.error();
  std::lock_guard lock(mu_);
  current_ = std::move(next.value());
  return {};
}

std::shared_ptr<const ScenarioPolicies> PolicyFile::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

}  // namespace yktgw
