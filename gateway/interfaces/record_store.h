#pragma once
// The durable store for records of every kind (terminal transactions, attendance). `submit`
// hands a record to the writer; the completion runs on the writer thread after the commit that
// holds the record (or after a failure or a refusal), and only then may the terminal be told
// its record is stored. The disk quota is the store's rule: while it is reached no record of
// any kind is written (StoreOutcome::over_quota).

#include <cstdint>
#include <functional>

#include "gateway/core/records.h"

namespace yktgw {

// over_quota: not written because the data directory was at its disk quota when the record's
// commit came; nothing was tried against the database, and the same record may be submitted
// again once there is room.
enum class StoreOutcome : std::uint8_t { stored, duplicate, failed, over_quota };

struct StoreStats {
  std::uint64_t stored = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t failed = 0;
  std::uint64_t over_quota = 0;  // not written: the disk quota was reached
  std::uint64_t commits = 0;
  std::uint64_t queued = 0;         // waiting for the writer now
  bool last_commit_failed = false;  // the latest commit failed: the store is not writable now
  bool operator==(const StoreStats&) const = default;
};

class RecordStore {
 public:
  using Completion = std::function<void(StoreOutcome)>;

  virtual ~RecordStore() = default;
  // False when the writer's queue is full or the store is closing: the record was not taken
  // and the completion will not run.
  virtual bool submit(TxnRecord record, Completion done) = 0;
  // Blocks until everything submitted so far is committed and its completion has run.
  virtual void flush() = 0;
  virtual StoreStats stats() const = 0;
};

}  // namespace yktgw
