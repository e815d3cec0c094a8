#pragma once
// From the loaded configuration to the forwarding core's options, in one place, so the
// composition root (gateway/app) and the CLI build the same router and the same file paths.

#include <string>

#include "gateway/config/config.h"
#include "gateway/core/result.h"
#include "gateway/outbox/disk_quota.h"
#include "gateway/outbox/forwarder.h"
#include "gateway/outbox/retention.h"
#include "gateway/outbox/router.h"

namespace yktgw::outbox {

// <data_dir>/records.db and <data_dir>/outbox.db.
std::string records_db_path(const Config& config);
std::string outbox_db_path(const Config& config);

// upstream.district_regions / crossprov_regions / unknown_region_destination /
// no_card_destination / copy_all_to_district → the table. Fails on a malformed region list
// (the config loader already refuses those; this guards callers that build a Config by hand).
Result<RouteTable> route_table_from(const UpstreamConfig& upstream);

ForwarderOptions forwarder_options_from(const Config& config);
RetentionOptions retention_options_from(const Config& config);
DiskQuotaOptions disk_quota_options_from(const Config& config);

}  // namespace yktgw::outbox
