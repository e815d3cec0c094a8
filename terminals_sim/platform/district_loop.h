#pragma once
// The platform's district-link loop: one thread owns the ROUTER socket, answers from
// PlatformService, holds delayed answers in a timer queue (never by sleeping, so heartbeats and
// other gateways are answered on time meanwhile) and writes online authorizations to the
// platform database in batches.

#include <atomic>

#include "connectors/zmq/district_server.h"
#include "gateway/core/result.h"
#include "terminals_sim/platform/platform_db.h"
#include "terminals_sim/platform/platform_service.h"

namespace spdlog {
class logger;
}

namespace yktgw::platform {

// Runs until `stop` is true. `db` may be null. An error means the socket failed.
Result<void> serve_district(district::DistrictServer& server, PlatformService& service,
                            PlatformDb* db, const std::atomic<bool>& stop, spdlog::logger& log);

}  // namespace yktgw::platform
