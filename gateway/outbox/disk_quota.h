#pragma once
// How much disk the record store and the outbox take, against store.disk_quota_mb. At the
// quota the gateway writes no record of any kind (the record store refuses each one, see
// SqliteRecordStore::set_quota): it stops acking new txn records (terminals keep them and
// resend), records no attendance, and raises an alarm; acks resume once forwarding and pruning
// have freed space.
//
// What counts: the pages of records.db that hold data (free pages inside the file are reused
// by new rows before the file grows, so they are not counted), records.db-wal, and outbox.db
// with its WAL. The card list and logs are not counted: they do not grow with traffic.
// Hysteresis: the alarm clears only below resume_fraction of the quota, so acks do not flap
// on every commit. The WAL can be given back by a checkpoint at any moment, so the Housekeeper
// checkpoints before it lets the alarm rise: the alarm stands for what the files must keep, not
// for a WAL that a busy second has filled (with a small quota that alarm would clear a moment
// later, every second). Between two checks the WAL can still add up to store.wal_checkpoint_mb
// plus a second of writes on top of the quota.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "gateway/core/result.h"
#include "gateway/store/sqlite_util.h"

namespace spdlog {
class logger;
}

namespace yktgw::outbox {

struct DiskUsage {
  std::uint64_t records_bytes = 0;      // records.db pages in use
  std::uint64_t records_wal_bytes = 0;  // records.db-wal
  std::uint64_t outbox_bytes = 0;       // outbox.db and outbox.db-wal
  std::uint64_t total() const { return records_bytes + records_wal_bytes + outbox_bytes; }
  bool operator==(const DiskUsage&) const = default;
};

struct DiskQuotaOptions {
  std::string records_db;
  std::string outbox_db;
  std::uint64_t quota_bytes = 0;  // 0: unlimited (usage is still measured for the status page)
  double resume_fraction = 0.95;
};

class DiskQuota {
 public:
  // Opens its own connection to records.db (which must exist) for the page counts.
  static Result<std::unique_ptr<DiskQuota>> open(DiskQuotaOptions options,
                                                 std::shared_ptr<spdlog::logger> log);

  // Measures and updates the flag; logs when it changes. Called by the Housekeeper's thread.
  // `may_raise` false: the alarm may clear but not rise this time (a WAL was left that a later
  // checkpoint gives back).
  Result<DiskUsage> refresh(bool may_raise = true);
  // Measures without touching the flag (the Housekeeper first gives back what a checkpoint can).
  Result<DiskUsage> measure();

  // Cheap and safe from any thread: the record store's writer asks it per commit, the
  // dispatcher per txn message.
  bool over_quota() const { return over_.load(std::memory_order_relaxed); }
  DiskUsage usage() const;
  std::uint64_t quota_bytes() const { return options_.quota_bytes; }
  // True while usage is at or above resume_fraction of the quota: pruning keeps going.
  bool above_resume_level() const;

 private:
  DiskQuota(DiskQuotaOptions options, sqlite::Database db, std::shared_ptr<spdlog::logger> log)
      : options_(std::move(options)), db_(std::move(db)), log_(std::move(log)) {}
  Result<DiskUsage> measure_locked();
  const DiskQuotaOptions options_;
  sqlite::Database db_;  // used by refresh() only, under mu_
  std::shared_ptr<spdlog::logger> log_;
  mutable std::mutex mu_;
  DiskUsage usage_;
  std::atomic<bool> over_{false};
};

// Size of a file, 0 when it does not exist.
std::uint64_t file_size_or_zero(const std::string& path);

}  // namespace yktgw::outbox
