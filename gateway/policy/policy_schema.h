#pragma once
// The declared keys of policies.toml, table by table: the loader reads with them and the docs
// test checks docs/policies.md against them.

#include <string_view>
#include <vector>

#include "gateway/policy/scenario_policy.h"
#include "gateway/policy/toml_fields.h"

namespace yktgw {

using PolicyKeys = std::vector<policy_file::FieldSpec>;

const PolicyKeys& policy_top_keys();     // version, terminal ([scenario.*] is read apart)
const PolicyKeys& policy_common_keys();  // every [scenario.NAME]
const PolicyKeys& policy_kind_keys(ScenarioKind kind);  // what the kind adds; may be empty
const PolicyKeys& policy_tier_keys();                   // each element of tiers
const PolicyKeys& policy_terminal_keys();               // each [[terminal]]

// Keys of the parking kind that only an exit scenario may set.
bool parking_exit_only(std::string_view key);

struct PolicyTableDoc {
  std::string_view table;  // as docs/policies.md names it
  const PolicyKeys* keys;
};
const std::vector<PolicyTableDoc>& policy_schema();

}  // namespace yktgw
