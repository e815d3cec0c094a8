#include "gateway/outbox/disk_quota.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <system_error>

namespace yktgw::outbox {
namespace {

Result<std::int64_t> pragma_int(const sqlite::Database& db, const char* sql) {
  auto st = db.prepare(sql);
  if (!st) return st.error();
  if (sqlite3_step(st->get()) != SQLITE_ROW) return make_error("sqlite", db.last_error());
  return static_cast<std::int64_t>(sqlite3_column_int64(st->get(), 0));
}

}  // namespace

std::uint64_t file_size_or_zero(const std::string& path) {
  std::error_code ec;
  const auto n = std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<std::uint64_t>(n);
}

Result<std::unique_ptr<DiskQuota>> DiskQuota::open(DiskQuotaOptions options,
                                                   std::shared_ptr<spdlog::logger> log) {
  if (!log) log = spdlog::default_logger();
  auto db = sqlite::Database::open(options.records_db, /*create=*/false);
  if (!db) return db.error();
  auto quota = std::unique_ptr<DiskQuota>(
      new DiskQuota(std::move(options), std::move(db.value()), std::move(log)));
  if (auto r = quota->refresh(); !r) return r.error();
  return quota;
}

Result<DiskUsage> DiskQuota::measure() {
  std::lock_guard lock(mu_);
  return measure_locked();
}

Result<DiskUsage> DiskQuota::measure_locked() {
  auto pages = pragma_int(db_, "PRAGMA page_count");
  if (!pages) return pages.error();
  auto free_pages = pragma_int(db_, "PRAGMA freelist_count");
  if (!free_pages) return free_pages.error();
  auto page_size = pragma_int(db_, "PRAGMA page_size");
  if (!page_size) return page_size.error();
  DiskUsage u;
  u.records_bytes = static_cast<std::uint64_t>(std::max<std::int64_t>(0, *pages - *free_pages)) *
                    static_cast<std::uint64_t>(*page_size);
  u.records_wal_bytes = file_size_or_zero(options_.records_db + "-wal");
  u.outbox_bytes =
      file_size_or_zero(options_.outbox_db) + file_size_or_zero(options_.outbox_db + "-wal");
  usage_ = u;
  return u;
}

Result<DiskUsage> DiskQuota::refresh(bool may_raise) {
  std::lock_guard lock(mu_);
  auto measured = measure_locked();
  if (!measured) return measured.error();
  const DiskUsage u = *measured;
  const std::uint64_t quota = options_.quota_bytes;
  const bool was_over = over_.load();
  bool over = was_over;
  if (quota == 0 ||
      static_cast<double>(u.total()) < static_cast<double>(quota) * options_.resume_fraction) {
    over = false;
  } else if (u.total() >= quota && may_raise) {
    over = true;
  }
  if (over != was_over) {
    over_.store(over);
    if (over) {
      log_->error(
          "disk quota reached: used_mb={:.1f} quota_mb={:.1f}; no record is written: new "
          "records are not acked (the terminals keep them) and clock-ins are not recorded as "
          "attendance until forwarding and pruning free space",
          static_cast<double>(u.total()) / 1048576.0, static_cast<double>(quota) / 1048576.0);
    } else {
      log_->warn(
          "disk quota alarm cleared: used_mb={:.1f} quota_mb={:.1f}; acking new records again",
          static_cast<double>(u.total()) / 1048576.0, static_cast<double>(quota) / 1048576.0);
    }
  }
  return u;
}

DiskUsage DiskQuota::usage() const {
  std::lock_guard lock(mu_);
  return usage_;
}

bool DiskQuota::above_resume_level() const {
  if (options_.quota_bytes == 0) return false;
  std::lock_guard lock(mu_);
  return static_cast<double>(usage_.total()) >=
         static_cast<double>(options_.quota_bytes) * options_.resume_fraction;
}

}  // namespace yktgw::outbox
