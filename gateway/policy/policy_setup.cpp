#include "gateway/policy/policy_setup.h"

namespace yktgw {

std::vector<std::string> split_group_names(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

Result<void> check_policy_files(const Config& config) {
  auto catalog = load_service_catalog(config.policy.service_items_file);
  if (!catalog) return in_key(config, "policy.service_items_file", catalog.error());
  PolicyLoadOptions options;
  options.group_names = split_group_names(config.cardlist.groups);
  options.catalog = std::make_shared<const ServiceCatalog>(std::move(catalog.value()));
  auto policies = load_policies(config.policy.file, options);
  if (!policies) return in_key(config, "policy.file", policies.error());
  return {};
}

Result<PolicyRuntime> open_policy_runtime(const Config& config, const Clock& clock,
                                          std::shared_ptr<spdlog::logger> log) {
  PolicyRuntime rt;
  auto catalog = load_service_catalog(config.policy.service_items_file);
  if (!catalog) return in_key(config, "policy.service_items_file", catalog.error());
  rt.catalog = std::make_shared<const ServiceCatalog>(std::move(catalog.value()));

  PolicyLoadOptions options;
  options.group_names = split_group_names(config.cardlist.groups);
  options.catalog = rt.catalog;
  auto policies = PolicyFile::open(config.policy.file, std::move(options));
  if (!policies) return in_key(config, "policy.file", policies.error());
  rt.policies = std::move(policies.value());

  CounterStore::Options co;
  co.path = config.gateway.data_dir + "/state.db";
  co.flush_interval = std::chrono::milliseconds(config.policy.state_flush_ms);
  auto counters = CounterStore::open(co, clock, std::move(log));
  if (!counters) return counters.error();
  rt.counters = std::move(counters.value());
  return rt;
}

}  // namespace yktgw
