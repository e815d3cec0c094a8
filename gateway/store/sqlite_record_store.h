#pragma once
// The durable transaction store: SQLite in WAL mode, one writer thread that group-commits.
// A record's completion runs only after the COMMIT that holds it has returned, so an
// application ack sent from the completion is a durability promise (with synchronous=FULL).

#include <condition_variable>
#include <cstdint>
#include <deque>
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

  const RecordStoreOptions options_;
  sqlite::Database db_;
  sqlite::Statement insert_;
  std::shared_ptr<spdlog::logger> log_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  std::deque<Pending> queue_;
  bool closing_ = false;
  std::uint64_t submitted_ = 0;
  std::uint64_t completed_ = 0;
  StoreStats stats_;
  std::thread writer_;
};

}  // namespace yktgw
