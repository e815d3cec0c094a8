#include "gateway/policy/policy_schema.h"

#include <array>
#include <string>

namespace yktgw {
namespace {

using policy_file::FieldSpec;
using policy_file::FieldType;

FieldSpec spec(std::string name, FieldType type, std::string def, std::string description) {
  FieldSpec s;
  s.name = std::move(name);
  s.type = type;
  s.default_text = std::move(def);
  s.required = s.default_text.empty();
  s.description = std::move(description);
  return s;
}

FieldSpec integer(std::string name, std::int64_t def, std::int64_t lo, std::int64_t hi,
                  std::string description) {
  FieldSpec s =
      spec(std::move(name), FieldType::integer, std::to_string(def), std::move(description));
  s.min_value = lo;
  s.max_value = hi;
  return s;
}

FieldSpec required_integer(std::string name, std::int64_t lo, std::int64_t hi,
                           std::string description) {
  FieldSpec s = spec(std::move(name), FieldType::integer, "", std::move(description));
  s.min_value = lo;
  s.max_value = hi;
  return s;
}

FieldSpec boolean(std::string name, bool def, std::string description) {
  return spec(std::move(name), FieldType::boolean, def ? "true" : "false", std::move(description));
}

FieldSpec choice(std::string name, const std::string& def, std::vector<std::string> choices,
                 std::string description) {
  FieldSpec s = spec(std::move(name), FieldType::string, def.empty() ? "" : "\"" + def + "\"",
                     std::move(description));
  s.choices = std::move(choices);
  return s;
}

FieldSpec integers(std::string name, std::string def, std::int64_t lo, std::int64_t hi,
                   std::string description) {
  FieldSpec s =
      spec(std::move(name), FieldType::integer_list, std::move(def), std::move(description));
  s.min_value = lo;
  s.max_value = hi;
  return s;
}

FieldSpec tiers(std::string description) {
  FieldSpec s = spec("tiers", FieldType::table_list, "[]", std::move(description));
  s.items = &policy_tier_keys();
  return s;
}

constexpr std::int64_t kMaxFen = 1'000'000'000;  // the protocol's amount limit

}  // namespace

const PolicyKeys& policy_top_keys() {
  static const PolicyKeys keys = [] {
    FieldSpec terminal = spec("terminal", FieldType::table_list, "[]",
                              "Terminal assignments: which scenario a terminal serves");
    terminal.items = &policy_terminal_keys();
    return PolicyKeys{
        integer("version", 1, 1, 1, "Format version of this file"),
        terminal,
    };
  }();
  return keys;
}

const PolicyKeys& policy_common_keys() {
  static const PolicyKeys keys = {
      choice(
          "kind", "",
          {"canteen", "gate", "parking", "bus", "scenic", "library", "museum", "hotel", "clinic"},
          "Scenario kind; decides which further keys the scenario takes"),
      required_integer("service_item", 1, 999,
                       "Item of the district catalogue (service-items.toml) the taps count for"),
      boolean("require_mac", false, "Card requests must carry the terminal's HMAC-SM3 MAC"),
      choice("online", "never", {"never", "prefer", "required"},
             "Ask the platform: never; prefer (offline rules when it cannot answer); required "
             "(decline online_required); clinic scenarios must be required"),
      integer("online_deadline_ms", 150, 10, 5000,
              "How long an online authorization may take before the offline rules decide"),
      choice("unknown_card", "decline", {"decline", "allow"},
             "Offline decision for cards not on the card list"),
      integers("unknown_card_regions_allowed", "[]", 11, 99,
               "Issuer regions whose unknown cards pass anyway, e.g. [51, 52, 54]"),
      integer("stale_offline_limit_fen", -1, -1, kMaxFen,
              "While the card list is older than its maximum age, offline approvals above this "
              "amount are declined card_list_stale; -1: no limit"),
  };
  return keys;
}

const PolicyKeys& policy_tier_keys() {
  static const PolicyKeys keys = {
      required_integer("min_age", 0, 150, "Age in completed years from which the tier applies"),
      required_integer("percent_off", 0, 100, "Discount in per cent; 100 is free"),
  };
  return keys;
}

const PolicyKeys& policy_terminal_keys() {
  static const PolicyKeys keys = {
      spec("match", FieldType::string, "",
           "Terminal id, or a pattern with * (any run) and ? (one character)"),
      spec("scenario", FieldType::string, "", "Name of the scenario the terminal serves"),
  };
  return keys;
}

const PolicyKeys& policy_kind_keys(ScenarioKind kind) {
  static const PolicyKeys kNone;
  static const PolicyKeys canteen = {
      tiers("Age discount tiers; the highest min_age reached applies"),
      integer("daily_meal_cap", 2, 0, 50, "Meals per card per day; 0: no cap"),
  };
  static const PolicyKeys gate = {
      spec("allowed_groups", FieldType::string_list, "[]",
           "Groups let in (names of cardlist.groups, or disabled, local); empty: everyone"),
      spec("hours", FieldType::string_list, "[]",
           "Opening hours in Asia/Shanghai time, \"HH:MM-HH:MM\"; empty: always"),
      boolean("clock_in", false, "Approvals are attendance (clock-in) events: rule gate.clock_in"),
  };
  static const PolicyKeys parking = {
      spec("lot", FieldType::string, "", "Parking lot; the entry and exit scenarios share it"),
      choice("side", "", {"entry", "exit"}, "Which gate of the lot the scenario's terminals are"),
      integer("free_minutes", 15, 0, 1440, "Free stay in minutes (exit only)"),
      integer("unit_minutes", 60, 1, 1440, "Billing unit in minutes (exit only)"),
      integer("unit_fee_fen", 200, 0, 1'000'000,
              "Fee per started unit beyond the free stay (exit only)"),
      integer("daily_cap_fen", 2000, 0, 10'000'000,
              "Most charged per started 24 hours of a stay; 0: no cap (exit only)"),
      choice("no_entry", "decline", {"decline", "max_fee"},
             "Exit without an entry record: decline no_entry_record, or charge daily_cap_fen "
             "(exit only)"),
  };
  static const PolicyKeys bus = {
      integer("fare_fen", 0, 0, 100'000, "Fare per tap; 0: the request's amount"),
      integer("offline_limit_fen", 500, 0, 100'000, "Offline floor limit per tap"),
      integer("offline_daily_cap_fen", 2000, 0, 10'000'000, "Offline amount per card per day"),
      integer("offline_max_taps", 10, 0, 1000,
              "Offline taps per card per day since the card's last online answer"),
  };
  static const PolicyKeys scenic = {
      integer("price_fen", 0, 0, 10'000'000, "Ticket price; 0: the request's amount"),
      boolean("free_disabled", true, "Free entry for disabled holders (card-list attribute)"),
      integer("free_age", 65, 0, 150, "Free entry from this age; 0: none"),
      boolean(
          "free_local", true,
          "Free entry for local residents: the local_resident attribute or a local_regions card"),
      integers("local_regions", "[50]", 11, 99, "Issuer regions counted as local"),
      tiers("Age discount tiers for holders not entering free"),
  };
  switch (kind) {
    case ScenarioKind::canteen:
      return canteen;
    case ScenarioKind::gate:
      return gate;
    case ScenarioKind::parking:
      return parking;
    case ScenarioKind::bus:
      return bus;
    case ScenarioKind::scenic:
      return scenic;
    default:
      return kNone;
  }
}

bool parking_exit_only(std::string_view key) {
  return key == "free_minutes" || key == "unit_minutes" || key == "unit_fee_fen" ||
         key == "daily_cap_fen" || key == "no_entry";
}

const std::vector<PolicyTableDoc>& policy_schema() {
  static const std::vector<PolicyTableDoc> tables = {
      {"(top level)", &policy_top_keys()},
      {"[[terminal]]", &policy_terminal_keys()},
      {"[scenario.NAME]", &policy_common_keys()},
      {"[scenario.NAME] kind = \"canteen\"", &policy_kind_keys(ScenarioKind::canteen)},
      {"[scenario.NAME] kind = \"gate\"", &policy_kind_keys(ScenarioKind::gate)},
      {"[scenario.NAME] kind = \"parking\"", &policy_kind_keys(ScenarioKind::parking)},
      {"[scenario.NAME] kind = \"bus\"", &policy_kind_keys(ScenarioKind::bus)},
      {"[scenario.NAME] kind = \"scenic\"", &policy_kind_keys(ScenarioKind::scenic)},
      {"tiers = [{...}]", &policy_tier_keys()},
  };
  return tables;
}

}  // namespace yktgw
