#include "gateway/outbox/outbox_config.h"

#include <set>

namespace yktgw::outbox {
namespace {

std::set<std::string> destinations_of(const std::string& choice) {
  if (choice == "both") return {std::string(kDistrict), std::string(kCrossProvince)};
  if (choice == "crossprov") return {std::string(kCrossProvince)};
  return {std::string(kDistrict)};
}

}  // namespace

std::string records_db_path(const Config& config) {
  return config.gateway.data_dir + "/records.db";
}

std::string outbox_db_path(const Config& config) { return config.gateway.data_dir + "/outbox.db"; }

Result<RouteTable> route_table_from(const UpstreamConfig& upstream) {
  RouteTable table;
  auto district = parse_region_list(upstream.district_regions);
  if (!district) return district.error();
  auto crossprov = parse_region_list(upstream.crossprov_regions);
  if (!crossprov) return crossprov.error();
  // A region in both lists goes to both platforms.
  for (IssuerRegion r : *district) table.by_region[r].insert(std::string(kDistrict));
  for (IssuerRegion r : *crossprov) table.by_region[r].insert(std::string(kCrossProvince));
  table.unknown_region = destinations_of(upstream.unknown_region_destination);
  table.no_card = destinations_of(upstream.no_card_destination);
  if (upstream.copy_all_to_district) table.copy_all.insert(std::string(kDistrict));
  return table;
}

ForwarderOptions forwarder_options_from(const Config& config) {
  const UpstreamConfig& u = config.upstream;
  ForwarderOptions o;
  o.records_db = records_db_path(config);
  o.outbox_db = outbox_db_path(config);
  o.gateway_id = config.gateway.id;
  o.limits.max_records = u.batch_max_records;
  o.limits.max_bytes = u.batch_max_bytes;
  o.limits.linger = std::chrono::milliseconds(u.batch_linger_ms);
  o.retry_min = std::chrono::milliseconds(u.retry_min_ms);
  o.retry_max = std::chrono::milliseconds(u.retry_max_ms);
  o.thread_nice = u.background_nice;
  return o;
}

RetentionOptions retention_options_from(const Config& config) {
  RetentionOptions o;
  o.records_db = records_db_path(config);
  o.outbox_db = outbox_db_path(config);
  o.retention_days = config.store.retention_days;
  o.wal_checkpoint_bytes = static_cast<std::uint64_t>(config.store.wal_checkpoint_mb) << 20;
  return o;
}

DiskQuotaOptions disk_quota_options_from(const Config& config) {
  DiskQuotaOptions o;
  o.records_db = records_db_path(config);
  o.outbox_db = outbox_db_path(config);
  o.quota_bytes = static_cast<std::uint64_t>(config.store.disk_quota_mb) << 20;
  return o;
}

}  // namespace yktgw::outbox
