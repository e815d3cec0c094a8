#pragma once
// The durable record store: SQLite in WAL mode, one writer thread that group-commits.
// A record's completion runs only after the COMMIT that holds it has returned, so an
// application ack sent from the completion is a durability promise (with synchronous=FULL).
// Every record kind goes through this one writer, so the disk quota is enforced here, once, for
// all of them (set_quota).

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "gateway/interfaces/record_store.h"
#include "gateway/store/sqlite_util.h"

namespace spdlog {
class logger;
}

namespace yktgw {

struct RecordStoreOptions {
  std::string path;
  int commit_max_records = 2000;
  int commit_linger_ms = 1;  // wait this long for more records when a batch is not full
  int queue_capacity = 100000;
  bool synchronous_full = true;
};

class SqliteRecordStore final : public RecordStore {
 public:
  static Result<std::unique_ptr<SqliteRecordStore>> open(const RecordStoreOptions& options,
                                                         std::shared_ptr<spdlog::logger> log);
  ~SqliteRecordStore() override;

  bool submit(TxnRecord record, Completion done) override;
  void flush() override;
  StoreStats stats() const override;

  // Stops taking records, commits what is queued, joins the writer. Idempotent.
  void close();

  // The disk quota (store.disk_quota_mb): while `reached` answers true, a commit writes none of
  // its records, whatever their kind, and completes each with StoreOutcome::over_quota. Asked
  // by the writer once per commit, so it must be cheap and safe from another thread. The
  // quota is measured on records.db, which only exists once the store is open, hence a setter.
  // Empty: no quota. `reached` must stay valid until close().
  void set_quota(std::function<bool()> reached);

  static const std::vector<std::string_view>& migrations();

 private:
  SqliteRecordStore(RecordStoreOptions options, sqlite::Database db,
                    std::shared_ptr<spdlog::logger> log);
  struct Pending {
    TxnRecord record;
    Completion done;
  };
  void writer_loop();
  void commit_batch(std::deque<Pending>& batch);
  // Completes every record of `batch` as over_quota without touching the database.
  void refuse_batch(std::deque<Pending>& batch);

  const RecordStoreOptions options_;
  sqlite::Database db_;
  sqlite::Statement insert_;
  std::shared_ptr<spdlog::logger> log_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  std::deque<Pending> queue_;
  std::function<bool()> quota_reached_;  // under mu_
  bool closing_ = false;
  std::uint64_t submitted_ = 0;
  std::uint64_t completed_ = 0;
  StoreStats stats_;
  std::thread writer_;
};

}  // namespace yktgw
