#include "gateway/outbox/retention.h"

#include <spdlog/spdlog.h>

#include <limits>

#include "gateway/core/thread_priority.h"
#include "gateway/outbox/outbox_db.h"

namespace yktgw::outbox {
namespace {

constexpr std::int64_t kMsPerDay = 24LL * 3600 * 1000;
constexpr int kNormalBusyTimeoutMs = 5000;
// A TRUNCATE checkpoint holds the writer lock while it waits; it must not hold up the store's
// group commits for long, so it gives up quickly and is tried again on the next round.
constexpr int kTruncateBusyTimeoutMs = 100;

struct CheckpointResult {
  bool busy = true;
  int log_frames = 0;
  int checkpointed = 0;
};

Result<CheckpointResult> run_checkpoint(const sqlite::Database& db, const std::string& schema,
                                        const char* mode) {
  auto st = db.prepare("PRAGMA " + schema + ".wal_checkpoint(" + mode + ")");
  if (!st) return st.error();
  const int rc = sqlite3_step(st->get());
  if (rc != SQLITE_ROW) return make_error("sqlite", db.last_error());
  CheckpointResult r;
  r.busy = sqlite3_column_int(st->get(), 0) != 0;
  r.log_frames = sqlite3_column_int(st->get(), 1);
  r.checkpointed = sqlite3_column_int(st->get(), 2);
  return r;
}

// PASSIVE, then TRUNCATE when PASSIVE got everything. True when the WAL was truncated.
Result<bool> checkpoint_schema(const sqlite::Database& db, const std::string& schema) {
  auto passive = run_checkpoint(db, schema, "PASSIVE");
  if (!passive) return passive.error();
  if (passive->log_frames < 0 || passive->checkpointed < passive->log_frames) return false;
  sqlite3_busy_timeout(db.get(), kTruncateBusyTimeoutMs);
  auto truncate = run_checkpoint(db, schema, "TRUNCATE");
  sqlite3_busy_timeout(db.get(), kNormalBusyTimeoutMs);
  if (!truncate) {
    // SQLITE_BUSY from the lock wait: someone was writing; next round.
    return false;
  }
  return !truncate->busy;
}

}  // namespace

Result<std::unique_ptr<RetentionPruner>> RetentionPruner::open(
    RetentionOptions options, const Router& router, const Clock& clock,
    std::shared_ptr<spdlog::logger> log) {
  if (!log) log = spdlog::default_logger();
  {
    auto outbox = OutboxDb::open(options.outbox_db);  // schema for the conditions below
    if (!outbox) return outbox.error();
  }
  auto db = sqlite::Database::open(options.records_db, /*create=*/false);
  if (!db) return db.error();
  {
    auto attach = db->prepare("ATTACH DATABASE ?1 AS ob");
    if (!attach) return attach.error();
    attach->bind(1, options.outbox_db);
    if (sqlite3_step(attach->get()) != SQLITE_DONE) {
      return make_error("sqlite", options.outbox_db + ": cannot attach: " + db->last_error());
    }
  }
  auto pruner = std::unique_ptr<RetentionPruner>(
      new RetentionPruner(std::move(options), std::move(db.value()), clock, std::move(log)));

  auto window = pruner->db_.prepare(
      "SELECT MAX(seq), MIN(received_ms), COUNT(*) FROM "
      "(SELECT seq, received_ms FROM main.txn WHERE seq > ?1 ORDER BY seq LIMIT ?2)");
  if (!window) return window.error();
  pruner->window_ = std::move(window.value());

  // A row may go when, for every destination, it is not routed there or that destination's
  // cursor is past it; and no unresolved dead letter covers it. Destination names are bound,
  // the conditions are built from integers only (Router::sql_condition).
  std::string sql =
      "DELETE FROM main.txn WHERE seq > ?1 AND seq <= ?2 AND received_ms < ?3"
      " AND NOT EXISTS (SELECT 1 FROM ob.dead_letter d WHERE d.state <> 'resolved'"
      " AND txn.seq BETWEEN d.first_seq AND d.last_seq)";
  const auto destinations = router.destinations();
  for (std::size_t i = 0; i < destinations.size(); ++i) {
    const std::string param = "?" + std::to_string(4 + i);
    sql += " AND (NOT " + router.sql_condition(destinations[i]) +
           " OR seq <= COALESCE((SELECT acked_seq FROM ob.cursor WHERE destination = " + param +
           "), 0))";
  }
  auto del = pruner->db_.prepare(sql);
  if (!del) return del.error();
  for (std::size_t i = 0; i < destinations.size(); ++i) {
    del->bind(static_cast<int>(4 + i), destinations[i]);
  }
  pruner->delete_ = std::move(del.value());
  return pruner;
}

Result<PruneReport> RetentionPruner::prune(bool any_age, const std::function<bool()>& keep_going) {
  PruneReport report;
  const std::int64_t cutoff =
      any_age ? std::numeric_limits<std::int64_t>::max()
              : clock_.wall_ms() - static_cast<std::int64_t>(options_.retention_days) * kMsPerDay;
  std::int64_t from = 0;
  for (;;) {
    if (keep_going && !keep_going()) break;
    sqlite3_stmt* w = window_.get();
    sqlite3_bind_int64(w, 1, from);
    sqlite3_bind_int64(w, 2, options_.prune_batch_rows);
    if (sqlite3_step(w) != SQLITE_ROW) {
      const std::string err = db_.last_error();
      sqlite3_reset(w);
      return make_error("sqlite", err);
    }
    const bool empty = sqlite3_column_int64(w, 2) == 0;
    const std::int64_t upto = sqlite3_column_int64(w, 0);
    const std::int64_t oldest = sqlite3_column_int64(w, 1);
    sqlite3_reset(w);
    // Rows are appended in time order, so once a window starts past the cutoff, so do the rest.
    if (empty || oldest >= cutoff) break;

    sqlite3_stmt* d = delete_.get();
    sqlite3_bind_int64(d, 1, from);
    sqlite3_bind_int64(d, 2, upto);
    sqlite3_bind_int64(d, 3, cutoff);
    const int rc = sqlite3_step(d);
    sqlite3_reset(d);  // keeps the destination bindings
    if (rc != SQLITE_DONE) return make_error("sqlite", db_.last_error());
    report.deleted += static_cast<std::uint64_t>(sqlite3_changes(db_.get()));
    ++report.statements;
    from = upto;
    if (options_.pause_between_batches.count() > 0) {
      std::this_thread::sleep_for(options_.pause_between_batches);
    }
  }
  if (report.deleted > 0) {
    log_->info("pruned records={} any_age={} statements={}", report.deleted, any_age,
               report.statements);
  }
  return report;
}

Result<CheckpointReport> RetentionPruner::checkpoint(bool force) {
  CheckpointReport report;
  const std::string wal = options_.records_db + "-wal";
  report.wal_bytes_before = file_size_or_zero(wal);
  report.wal_bytes_after = report.wal_bytes_before;
  const bool outbox_big =
      file_size_or_zero(options_.outbox_db + "-wal") >= options_.wal_checkpoint_bytes;
  if (!force && report.wal_bytes_before < options_.wal_checkpoint_bytes && !outbox_big) {
    return report;
  }
  report.ran = true;
  auto main = checkpoint_schema(db_, "main");
  if (!main) return main.error();
  auto ob = checkpoint_schema(db_, "ob");
  if (!ob) return ob.error();
  report.complete = *main;
  report.wal_bytes_after = file_size_or_zero(wal);
  log_->debug("checkpoint wal_before={} wal_after={} complete={}", report.wal_bytes_before,
              report.wal_bytes_after, report.complete);
  return report;
}

// ---- Housekeeper -------------------------------------------------------------------------------

Housekeeper::Housekeeper(RetentionPruner& pruner, DiskQuota& quota, HousekeeperOptions options,
                         std::shared_ptr<spdlog::logger> log)
    : pruner_(pruner), quota_(quota), options_(options), log_(std::move(log)) {
  if (!log_) log_ = spdlog::default_logger();
}

Housekeeper::~Housekeeper() { stop(); }

void Housekeeper::start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] {
    if (auto r = lower_this_thread_priority(options_.thread_nice); !r) {
      log_->warn("housekeeping runs at normal priority: {}", r.error().message);
    }
    loop();
  });
}

void Housekeeper::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Housekeeper::run_once(bool prune_now) {
  // Before the alarm rises, give back what a checkpoint can (disk_quota.h): only what is left
  // counts against the quota.
  // When a busy writer keeps the checkpoint from finishing, only what the files keep without
  // the WAL can raise the alarm this round; the next round tries again.
  bool may_raise = true;
  if (!quota_.over_quota() && quota_.quota_bytes() > 0) {
    if (auto u = quota_.measure(); u && u->total() >= quota_.quota_bytes()) {
      auto c = pruner_.checkpoint(true);
      if (!c) log_->warn("checkpoint before the quota check failed: {}", c.error().message);
      if (!c || !c->complete) {
        auto after = quota_.measure();
        may_raise = after && after->records_bytes + after->outbox_bytes >= quota_.quota_bytes();
      }
    }
  }
  if (auto u = quota_.refresh(may_raise); !u) {
    log_->error("disk quota: cannot measure: {}", u.error().message);
  }
  if (quota_.over_quota()) {
    auto r = pruner_.prune(/*any_age=*/true, [this] {
      if (stopping_) return false;
      (void)pruner_.checkpoint(false);
      (void)quota_.refresh();
      return quota_.above_resume_level();
    });
    if (!r) log_->error("prune under quota pressure failed: {}", r.error().message);
    (void)pruner_.checkpoint(true);
    (void)quota_.refresh();
    const auto now = std::chrono::steady_clock::now();
    if (quota_.over_quota() && now - last_full_warning_ >= std::chrono::minutes(1)) {
      last_full_warning_ = now;
      const DiskUsage u = quota_.usage();
      log_->error(
          "disk quota still reached: used_mb={:.1f} quota_mb={:.1f}; what is left is not yet "
          "acked by every platform (or is a dead letter) and is kept",
          static_cast<double>(u.total()) / 1048576.0,
          static_cast<double>(quota_.quota_bytes()) / 1048576.0);
    }
  }
  if (prune_now) {
    auto r = pruner_.prune(/*any_age=*/false, [this] { return !stopping_; });
    if (!r) log_->error("prune failed: {}", r.error().message);
  }
  if (auto c = pruner_.checkpoint(false); !c) {
    log_->warn("checkpoint failed: {}", c.error().message);
  } else if (c->ran && !c->complete) {
    log_->debug("checkpoint did not complete (readers or writer busy); retrying next round");
  }
}

void Housekeeper::loop() {
  auto next_prune = std::chrono::steady_clock::now();
  while (!stopping_) {
    const auto now = std::chrono::steady_clock::now();
    const bool prune_now = now >= next_prune;
    if (prune_now) next_prune = now + options_.prune_interval;
    run_once(prune_now);
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, options_.quota_interval, [this] { return stopping_.load(); });
  }
}

}  // namespace yktgw::outbox
