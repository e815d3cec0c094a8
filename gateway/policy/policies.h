#pragma once
// The scenario policies of one box (config/policies.toml): named scenarios, each of a kind with
// its options, and terminal assignments. Loaded whole and checked before use; a SIGHUP reload
// that fails keeps the policies in force.

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gateway/core/result.h"
#include "gateway/policy/scenario_policy.h"
#include "gateway/policy/service_catalog.h"

namespace yktgw {

struct PolicyLoadOptions {
  // cardlist.groups in order: group i is attribute bit kFirstGroupBit + i. gate.allowed_groups
  // may name these, and the fixed "disabled" and "local" (as the card list names them).
  std::vector<std::string> group_names;
  // When set, service_item must name a service item (事项类) of this catalogue.
  std::shared_ptr<const ServiceCatalog> catalog;
};

class ScenarioPolicies {
 public:
  struct Scenario {
    ScenarioCommon common;
    std::unique_ptr<const ScenarioPolicy> policy;
  };

  // Exact terminal ids first; otherwise the first pattern in file order. nullptr: unassigned.
  const Scenario* for_terminal(std::string_view terminal) const;
  const Scenario* find(std::string_view name) const;
  const std::vector<std::unique_ptr<const Scenario>>& scenarios() const { return scenarios_; }
  const std::string& source() const { return source_; }

 private:
  friend class PolicyBuilder;
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::string source_;
  std::vector<std::unique_ptr<const Scenario>> scenarios_;
  std::unordered_map<std::string, const Scenario*, StringHash, std::equal_to<>> exact_;
  std::vector<std::pair<std::string, const Scenario*>> patterns_;  // file order
};

// Terminal patterns: * matches any run (also empty), ? one character.
bool glob_match(std::string_view pattern, std::string_view text);

Result<std::shared_ptr<const ScenarioPolicies>> parse_policies(const std::string& text,
                                                               const std::string& name,
                                                               const PolicyLoadOptions& options);
Result<std::shared_ptr<const ScenarioPolicies>> load_policies(const std::string& path,
                                                              const PolicyLoadOptions& options);

// The policies in force, swapped whole on reload. Requests take a reference-counted snapshot,
// so a reload never changes the rules under a decision in progress.
class PolicyFile {
 public:
  static Result<std::unique_ptr<PolicyFile>> open(std::string path, PolicyLoadOptions options);
  // Fixed policies (tests, benchmarks); reload() reports that there is no file.
  explicit PolicyFile(std::shared_ptr<const ScenarioPolicies> policies);

  // Re-reads the file (SIGHUP). On any error the policies in force stay and the error says
  // file:line:column and the key.
  Result<void> reload();
  std::shared_ptr<const ScenarioPolicies> current() const;
  const std::string& path() const { return path_; }

 private:
  PolicyFile(std::string path, PolicyLoadOptions options,
             std::shared_ptr<const ScenarioPolicies> policies);
  std::string path_;
  PolicyLoadOptions options_;
  mutable std::mutex mu_;  // guards the pointer only
  std::shared_ptr<const ScenarioPolicies> current_;
};

}  // namespace yktgw
