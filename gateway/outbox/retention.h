#pragma once
// Retention and WAL housekeeping for records.db, beside the record store's writer.
//
// Pruning deletes a row only when every destination the router sends it to has acked it (the
// destination's cursor is past it and no unresolved dead letter covers it), and when it is
// older than store.retention_days. At the disk quota the age condition is dropped: rows every
// platform already has go first, oldest first, until usage is back under the resume level.
// A row some destination has not acked is never deleted, whatever the quota says.
//
// Deletes run in small autocommit statements (prune_batch_rows) on a connection of their own,
// with a pause between them, so the writer's group commits never wait long behind them.
// A TRUNCATE checkpoint resets records.db-wal once it passes wal_checkpoint_bytes, and also
// periodically, so the WAL cannot grow without bound during a long outage.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "gateway/core/result.h"
#include "gateway/interfaces/clock.h"
#include "gateway/outbox/disk_quota.h"
#include "gateway/outbox/router.h"
#include "gateway/store/sqlite_util.h"

namespace spdlog {
class logger;
}

namespace yktgw::outbox {

struct RetentionOptions {
  std::string records_db;
  std::string outbox_db;
  int retention_days = 30;
  int prune_batch_rows = 5'000;
  std::uint64_t wal_checkpoint_bytes = 64ull << 20;
  std::chrono::milliseconds pause_between_batches{10};
};

struct PruneReport {
  std::uint64_t deleted = 0;
  std::uint64_t statements = 0;
  bool operator==(const PruneReport&) const = default;
};

struct CheckpointReport {
  bool ran = false;       // the WAL was past the threshold (or forced)
  bool complete = false;  // every frame was copied back and the WAL file truncated
  std::uint64_t wal_bytes_before = 0;
  std::uint64_t wal_bytes_after = 0;
  bool operator==(const CheckpointReport&) const = default;
};

class RetentionPruner {
 public:
  // Creates outbox.db's schema when missing (the conditions read its cursors and dead letters)
  // and attaches it to a connection of its own on records.db.
  static Result<std::unique_ptr<RetentionPruner>> open(RetentionOptions options,
                                                       const Router& router, const Clock& clock,
                                                       std::shared_ptr<spdlog::logger> log);

  // `any_age`: ignore the retention age (quota pressure). `keep_going` is asked before each
  // statement; returning false ends the run early (quota relieved, shutdown).
  Result<PruneReport> prune(bool any_age, const std::function<bool()>& keep_going = {});

  // When records.db-wal is past the threshold (or with `force`): a PASSIVE checkpoint, which
  // copies pages back without blocking the writer, then, if it copied everything, a TRUNCATE
  // with a short busy timeout to give the file's space back. The same for outbox.db. A
  // checkpoint that readers or the writer keep from finishing is not an error: it is tried
  // again on the next round.
  Result<CheckpointReport> checkpoint(bool force = false);

 private:
  RetentionPruner(RetentionOptions options, sqlite::Database db, const Clock& clock,
                  std::shared_ptr<spdlog::logger> log)
      : options_(std::move(options)), db_(std::move(db)), clock_(clock), log_(std::move(log)) {}
  const RetentionOptions options_;
  sqlite::Database db_;
  sqlite::Statement window_;
  sqlite::Statement delete_;
  const Clock& clock_;
  std::shared_ptr<spdlog::logger> log_;
};

struct HousekeeperOptions {
  // Also how often the WAL size is looked at: it cannot pass the threshold by much unseen.
  std::chrono::milliseconds quota_interval{1'000};
  std::chrono::milliseconds prune_interval{60'000};
  int thread_nice = 0;  // of the housekeeping thread, as ForwarderOptions::thread_nice
};

// The thread that drives DiskQuota and RetentionPruner: the quota and the WAL size every
// second, pruning every minute (and at once, without the age condition, while over the quota).
class Housekeeper {
 public:
  Housekeeper(RetentionPruner& pruner, DiskQuota& quota, HousekeeperOptions options,
              std::shared_ptr<spdlog::logger> log);
  ~Housekeeper();
  Housekeeper(const Housekeeper&) = delete;
  Housekeeper& operator=(const Housekeeper&) = delete;

  void start();
  void stop();  // finishes the statement running, then joins; idempotent
  // One round as the thread does it, on the caller's thread (tests).
  void run_once(bool prune_now);

 private:
  void loop();
  RetentionPruner& pruner_;
  DiskQuota& quota_;
  const HousekeeperOptions options_;
  std::shared_ptr<spdlog::logger> log_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::chrono::steady_clock::time_point last_full_warning_{};
};

}  // namespace yktgw::outbox
