#pragma once
// The platform's district-link loop: one thread owns the ROUTER socket, answers from
// PlatformService (and record batches from DistrictBatchReceiver), holds delayed answers in a
// timer queue (never by sleeping, so heartbeats and other gateways are answered on time
// meanwhile) and writes online authorizations to the platform database in batches.

#include <atomic>
#include <cstdint>

#include "connectors/zmq/district_server.h"
#include "gateway/core/result.h"
#include "terminals_sim/platform/district_batches.h"
#include "terminals_sim/platform/platform_db.h"
#include "terminals_sim/platform/platform_service.h"
#include "terminals_sim/platform_https/https_batch_receiver.h"

namespace spdlog {
class logger;
}

namespace yktgw::platform {

struct DistrictLoopOptions {
  // Takes BATCH; null: PlatformService answers it (ERROR unsupported_type, a platform without a
  // store for records).
  DistrictBatchReceiver* batches = nullptr;
  // While down, every message is read and dropped unanswered, heartbeats too, and answers that
  // fall due are dropped: to a gateway that is a platform gone silent.
  DownSchedule down;
};

// Written by the loop, readable from any thread.
struct DistrictLoopStats {
  std::atomic<std::uint64_t> dropped_while_down{0};  // messages and delayed answers
};

// Runs until `stop` is true. `db` may be null. An error means the socket failed.
Result<void> serve_district(district::DistrictServer& server, PlatformService& service,
                            PlatformDb* db, const std::atomic<bool>& stop, spdlog::logger& log,
                            const DistrictLoopOptions& options = {},
                            DistrictLoopStats* stats = nullptr);

}  // namespace yktgw::platform
