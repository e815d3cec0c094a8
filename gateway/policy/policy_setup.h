#pragma once
// The start-up half of wiring the policy engine, kept here so the composition root stays a list
// of calls: reads the service catalogue and the policies file named by the main config and opens
// the counters' state.db in the data directory.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/config/config.h"
#include "gateway/core/result.h"
#include "gateway/interfaces/clock.h"
#include "gateway/policy/counter_store.h"
#include "gateway/policy/policies.h"
#include "gateway/policy/service_catalog.h"

namespace yktgw {

// "staff, student,site_worker" -> {"staff", "student", "site_worker"}; blanks around names and
// empty items are dropped.
std::vector<std::string> split_group_names(std::string_view comma_separated);

struct PolicyRuntime {
  std::shared_ptr<const ServiceCatalog> catalog;
  std::unique_ptr<PolicyFile> policies;  // reload() on SIGHUP
  std::unique_ptr<CounterStore> counters;
};

// Any error names the file and, for the TOML files, line:column and key. Uses policy.file,
// policy.service_items_file, policy.state_flush_ms, cardlist.groups and gateway.data_dir.
Result<PolicyRuntime> open_policy_runtime(const Config& config, const Clock& clock,
                                          std::shared_ptr<spdlog::logger> log);

// Reads the service catalogue and the policies as open_policy_runtime would, without opening
// the counter store: for `yktgw check-config`.
Result<void> check_policy_files(const Config& config);

}  // namespace yktgw
