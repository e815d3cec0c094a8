#pragma once
// The simulated platform's own SQLite file (--db): what it was asked online, so a test or an
// operator can check afterwards what reached the platform. Record forwarding (issue 4) adds its
// tables here as further schema versions.

#include <cstdint>
#include <string>
#include <vector>

#include "gateway/core/result.h"
#include "gateway/store/sqlite_util.h"
#include "terminals_sim/platform/platform_service.h"

namespace yktgw::platform {

class PlatformDb {
 public:
  // Creates the file and its schema when missing; WAL, synchronous=NORMAL (a simulator's log
  // may lose the last moments of a power cut; the gateway's store is the one that may not).
  static Result<PlatformDb> open(const std::string& path);

  // All in one transaction.
  Result<void> record(const std::vector<AuthRecord>& records);

  Result<std::int64_t> auth_count() const;
  // The newest `limit` records, newest first.
  Result<std::vector<AuthRecord>> recent(int limit) const;

 private:
  explicit PlatformDb(sqlite::Database db) : db_(std::move(db)) {}
  sqlite::Database db_;
  sqlite::Statement insert_;
};

}  // namespace yktgw::platform
