#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "gateway/config/config.h"
#include "gateway/policy/kinds.h"
#include "gateway/policy/policies.h"
#include "gateway/policy/policy_schema.h"
#include "gateway/policy/policy_setup.h"

namespace yktgw {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;
const fs::path kSource = YKTGW_SOURCE_DIR;

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

PolicyLoadOptions options() {
  PolicyLoadOptions o;
  o.group_names = {"staff", "student", "site_worker", "resident"};
  return o;
}

std::string error_of(const std::string& text, const PolicyLoadOptions& o = options()) {
  auto p = parse_policies(text, "p.toml", o);
  return p ? "<ok>" : p.error().message;
}

// ---- the example files -----------------------------------------------------------------------

TEST(PolicyExample, LoadsWithTheExampleConfigAndCatalogue) {
  auto config = load_config((kSource / "config" / "yktgw.toml").string());
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->policy.file, (kSource / "config" / "policies.toml").lexically_normal());
  EXPECT_EQ(config->policy.service_items_file,
            (kSource / "config" / "service-items.toml").lexically_normal());
  auto catalog = load_service_catalog(config->policy.service_items_file);
  ASSERT_TRUE(catalog) << catalog.error().message;
  PolicyLoadOptions o;
  o.group_names = split_group_names(config->cardlist.groups);
  o.catalog = std::make_shared<const ServiceCatalog>(std::move(catalog.value()));
  auto policies = load_policies(config->policy.file, o);
  ASSERT_TRUE(policies) << policies.error().message;
  const auto& p = **policies;
  std::set<ScenarioKind> kinds;
  for (const auto& s : p.scenarios()) kinds.insert(s->common.kind);
  EXPECT_EQ(kinds.size(), kScenarioKindCount) << "the example shows every kind";
  EXPECT_EQ(p.for_terminal("ct-0005")->common.name, "canteen");
  EXPECT_EQ(p.for_terminal("xy-ct-1")->common.name, "canteen_campus");
  EXPECT_EQ(p.for_terminal("site-3")->common.name, "gate_site");
  EXPECT_EQ(p.for_terminal("pk-out-2")->common.name, "parking_exit");
  EXPECT_EQ(p.for_terminal("med-1")->common.online, OnlineMode::required);
  EXPECT_EQ(p.for_terminal("bus-0231")->common.unknown_card_regions_allowed,
            (std::vector<IssuerRegion>{51, 52, 54}));
  EXPECT_EQ(p.for_terminal("nobody"), nullptr);
}

// Every declared key and every rule id is explained in docs/policies.md.
TEST(PolicyDocs, ListEveryKeyAndRule) {
  const std::string docs = read_text(kSource / "docs" / "policies.md");
  ASSERT_FALSE(docs.empty());
  for (const PolicyTableDoc& t : policy_schema()) {
    for (const auto& k : *t.keys) {
      EXPECT_THAT(docs, HasSubstr("`" + k.name + "`")) << t.table;
    }
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
                           "engine.busy",
                           "canteen.age_<N>",
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
                           "scenic.age_<N>",
                           "scenic.full_price",
                           "library.identity",
                           "museum.identity",
                           "hotel.identity",
                           "clinic.identity"}) {
    EXPECT_THAT(docs, HasSubstr(std::string("`") + rule + "`"));
  }
}

TEST(PolicySchema, DefaultsAreValidAndDescribed) {
  for (const PolicyTableDoc& t : policy_schema()) {
    for (const auto& k : *t.keys) {
      SCOPED_TRACE(k.name);
      EXPECT_FALSE(k.description.empty());
      EXPECT_EQ(k.required, k.default_text.empty());
    }
  }
  // A scenario with only its required keys gets every default, through the same reader.
  auto p = parse_policies("[scenario.b]\nkind = \"bus\"\nservice_item = 29\n", "p.toml", options());
  ASSERT_TRUE(p) << p.error().message;
  const ScenarioCommon& c = (*p)->find("b")->common;
  EXPECT_EQ(c.online, OnlineMode::never);
  EXPECT_EQ(c.online_deadline, std::chrono::milliseconds(150));
  EXPECT_EQ(c.unknown_card, UnknownCardRule::decline);
  EXPECT_EQ(c.stale_offline_limit_fen, -1);
  EXPECT_FALSE(c.require_mac);
}

// ---- errors name file:line:column and the key -------------------------------------------------

struct ErrorCase {
  const char* name;
  std::string text;
  std::string expect;
};

const std::string kCanteen = "[scenario.c]\nkind = \"canteen\"\nservice_item = 16\n";  // lines 1-3

std::vector<ErrorCase> error_cases() {
  return {
      {"syntax", "[scenario.c\n", "p.toml:1:"},
      {"unknown_top_key", "colour = 1\n", "p.toml:1:1: unknown key 'colour'"},
      {"unknown_scenario_key", kCanteen + "daily_meals = 3\n",
       "p.toml:4:1: unknown key 'scenario.c.daily_meals' (not a key of kind canteen)"},
      {"key_of_another_kind", kCanteen + "hours = [\"06:00-22:00\"]\n",
       "p.toml:4:1: unknown key 'scenario.c.hours' (not a key of kind canteen)"},
      {"wrong_type", kCanteen + "daily_meal_cap = \"2\"\n",
       "p.toml:4:18: key 'scenario.c.daily_meal_cap' must be an integer, got string"},
      {"out_of_range", kCanteen + "daily_meal_cap = 99\n",
       "p.toml:4:18: key 'scenario.c.daily_meal_cap' has invalid value '99': expected an integer "
       "in 0..50"},
      {"bad_choice", kCanteen + "online = \"sometimes\"\n",
       "p.toml:4:10: key 'scenario.c.online' has invalid value 'sometimes': expected one of never, "
       "prefer, required"},
      {"bad_kind", "[scenario.c]\nkind = \"taxi\"\nservice_item = 16\n",
       "p.toml:2:8: key 'scenario.c.kind' has invalid value 'taxi'"},
      {"missing_kind", "[scenario.c]\nservice_item = 16\n",
       "p.toml:1:11: missing required key 'scenario.c.kind'"},
      {"missing_service_item", "[scenario.c]\nkind = \"museum\"\n",
       "p.toml:1:11: missing required key 'scenario.c.service_item'"},
      {"tier_percent", kCanteen + "tiers = [{ min_age = 60, percent_off = 110 }]\n",
       "p.toml:4:40: key 'scenario.c.tiers[0].percent_off' has invalid value '110'"},
      {"tier_twice",
       kCanteen + "tiers = [{ min_age = 60, percent_off = 10 },\n"
                  "  { min_age = 60, percent_off = 20 }]\n",
       "p.toml:5:15: key 'scenario.c.tiers[1].min_age' has invalid value '60': another tier"},
      {"bad_window",
       "[scenario.g]\nkind = \"gate\"\nservice_item = 5\nhours = [\"06:00-20:00\", "
       "\"8-17\"]\n",
       "p.toml:4:25: key 'scenario.g.hours[1]' has invalid value '8-17'"},
      {"unknown_group",
       "[scenario.g]\nkind = \"gate\"\nservice_item = 5\nallowed_groups = "
       "[\"builders\"]\n",
       "p.toml:4:19: key 'scenario.g.allowed_groups[0]' names unknown group 'builders': expected "
       "disabled, local or one of cardlist.groups [staff, student, site_worker, resident]"},
      {"clinic_not_online",
       "[scenario.m]\nkind = \"clinic\"\nservice_item = 40\nonline = "
       "\"prefer\"\n",
       "p.toml:4:10: key 'scenario.m.online' has invalid value 'prefer': clinic scenarios are "
       "online only"},
      {"exit_key_on_entry",
       "[scenario.pi]\nkind = \"parking\"\nservice_item = 16\nlot = \"a\"\n"
       "side = \"entry\"\nfree_minutes = 10\n",
       "p.toml:6:16: key 'scenario.pi.free_minutes' applies to side = \"exit\" only"},
      {"exit_without_entry",
       "[scenario.po]\nkind = \"parking\"\nservice_item = 16\nlot = \"a\"\n"
       "side = \"exit\"\n",
       "p.toml:1:11: parking lot 'a' has an exit scenario but no entry scenario"},
      {"max_fee_without_cap",
       "[scenario.pi]\nkind = \"parking\"\nservice_item = 16\nlot = "
       "\"a\"\nside = \"entry\"\n[scenario.po]\nkind = \"parking\"\n"
       "service_item = 16\nlot = \"a\"\nside = \"exit\"\nno_entry = "
       "\"max_fee\"\ndaily_cap_fen = 0\n",
       "p.toml:11:12: key 'scenario.po.no_entry' has invalid value 'max_fee': needs "
       "daily_cap_fen > 0"},
      {"bad_scenario_name", "[scenario.Canteen]\nkind = \"canteen\"\nservice_item = 16\n",
       "p.toml:1:11: scenario name 'Canteen' must be 1-32 of a-z 0-9 _"},
      {"terminal_to_nowhere", kCanteen + "[[terminal]]\nmatch = \"ct-*\"\nscenario = \"bus\"\n",
       "p.toml:6:12: key 'terminal[0].scenario' has invalid value 'bus': no [scenario.bus]"},
      {"terminal_twice",
       kCanteen + "[[terminal]]\nmatch = \"ct-*\"\nscenario = \"c\"\n"
                  "[[terminal]]\nmatch = \"ct-*\"\nscenario = \"c\"\n",
       "p.toml:8:9: key 'terminal[1].match' has invalid value 'ct-*': another [[terminal]]"},
      {"terminal_bad_chars", kCanteen + "[[terminal]]\nmatch = \"ct/1\"\nscenario = \"c\"\n",
       "p.toml:5:9: key 'terminal[0].match' has invalid value 'ct/1'"},
      {"terminal_missing_match", kCanteen + "[[terminal]]\nscenario = \"c\"\n",
       "p.toml:4:1: missing required key 'terminal[0].match'"},
      {"version", "version = 2\n", "p.toml:1:11: key 'version' has invalid value '2'"},
      {"first_problem_wins", kCanteen + "daily_meal_cap = 99\nonline = \"x\"\n", "p.toml:4:18:"},
      {"scenario_not_a_table", "scenario = 3\n", "p.toml:1:12: key 'scenario' must be a table"},
  };
}

class PolicyErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(PolicyErrors, NameFileLineColumnAndKey) {
  EXPECT_THAT(error_of(GetParam().text), HasSubstr(GetParam().expect));
}

INSTANTIATE_TEST_SUITE_P(Policies, PolicyErrors, ::testing::ValuesIn(error_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(PolicyErrors, ServiceItemMustBeInTheCatalogue) {
  auto catalog = load_service_catalog((kSource / "config" / "service-items.toml").string());
  ASSERT_TRUE(catalog) << catalog.error().message;
  PolicyLoadOptions o = options();
  o.catalog = std::make_shared<const ServiceCatalog>(std::move(catalog.value()));
  EXPECT_EQ(error_of(kCanteen, o), "<ok>");
  EXPECT_THAT(error_of("[scenario.c]\nkind = \"canteen\"\nservice_item = 48\n", o),
              HasSubstr("p.toml:3:16: key 'scenario.c.service_item' has invalid value '48': no "
                        "such item in the service catalogue (1..47)"));
  EXPECT_THAT(error_of("[scenario.c]\nkind = \"canteen\"\nservice_item = 45\n", o),
              HasSubstr("item 45 (立法工作) is a support task with no card use"));
}

TEST(PolicyTerminals, ExactBeforePatternsThenFileOrder) {
  auto p = parse_policies(kCanteen +
                              "[scenario.d]\nkind = \"museum\"\nservice_item = 31\n"
                              "[[terminal]]\nmatch = \"ct-*\"\nscenario = \"c\"\n"
                              "[[terminal]]\nmatch = \"ct-9*\"\nscenario = \"d\"\n"
                              "[[terminal]]\nmatch = \"ct-99\"\nscenario = \"d\"\n",
                          "p.toml", options());
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ((*p)->for_terminal("ct-1")->common.name, "c");
  EXPECT_EQ((*p)->for_terminal("ct-91")->common.name, "c");  // first pattern in the file
  EXPECT_EQ((*p)->for_terminal("ct-99")->common.name, "d");  // exact id wins
  EXPECT_EQ((*p)->for_terminal("xx"), nullptr);
}

// ---- reload ----------------------------------------------------------------------------------

class TempFile {
 public:
  TempFile() {
    static int n = 0;
    path_ = fs::temp_directory_path() /
            ("yktgw-policies-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".toml");
  }
  ~TempFile() {
    std::error_code ec;
    fs::remove(path_, ec);
  }
  void write(const std::string& text) const { std::ofstream(path_, std::ios::trunc) << text; }
  std::string path() const { return path_.string(); }

 private:
  fs::path path_;
};

TEST(PolicyReload, GoodFileSwapsBadFileKeepsTheOld) {
  TempFile f;
  f.write(kCanteen + "[[terminal]]\nmatch = \"ct-*\"\nscenario = \"c\"\n");
  auto file = PolicyFile::open(f.path(), options());
  ASSERT_TRUE(file) << file.error().message;
  auto before = (*file)->current();
  ASSERT_NE(before->for_terminal("ct-1"), nullptr);

  f.write(kCanteen + "daily_meal_cap = -1\n[[terminal]]\nmatch = \"ct-*\"\nscenario = \"c\"\n");
  auto bad = (*file)->reload();
  ASSERT_FALSE(bad);
  EXPECT_THAT(
      bad.error().message,
      HasSubstr(f.path() + ":4:18: key 'scenario.c.daily_meal_cap' has invalid value '-1'"));
  EXPECT_EQ((*file)->current(), before) << "a bad file must leave the policies in force";

  f.write(kCanteen + "[[terminal]]\nmatch = \"pos-*\"\nscenario = \"c\"\n");
  ASSERT_TRUE((*file)->reload());
  EXPECT_NE((*file)->current(), before);
  EXPECT_EQ((*file)->current()->for_terminal("ct-1"), nullptr);
  EXPECT_NE((*file)->current()->for_terminal("pos-1"), nullptr);
  // The old snapshot is still whole for whoever holds it.
  EXPECT_NE(before->for_terminal("ct-1"), nullptr);

  f.write("");
  fs::remove(f.path());
  auto missing = (*file)->reload();
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.error().message, HasSubstr("cannot read"));
}

TEST(PolicyReload, FixedPoliciesHaveNoFile) {
  auto p = parse_policies(kCanteen, "p.toml", options());
  ASSERT_TRUE(p);
  PolicyFile fixed(p.value());
  EXPECT_FALSE(fixed.reload());
  EXPECT_EQ(fixed.current(), p.value());
}

}  // namespace
}  // namespace yktgw
