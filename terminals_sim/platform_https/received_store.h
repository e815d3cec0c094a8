#pragma once
// What a simulated platform accepted from gateways, in SQLite, deduplicated by the record's
// identity (site, terminal, txn_id) per platform, whichever gateway of the site sent it. A repeat
// is not stored again; its row's `duplicates` counter goes up, so a test can tell "arrived
// exactly once in effect" from "arrived twice" (duplicates appear only when an ack was lost and
// a gateway re-sent, or when two gateways of a shared group both stored a record).
//
// The tables keep their own schema version (table received_meta) rather than PRAGMA
// user_version, so they can live in the same file as the platform simulator's other tables
// (terminals_sim/platform/platform_db.cpp uses user_version for its own).
// Used by the HTTPS receiver here and by the ZeroMQ batch receiver
// (terminals_sim/platform/district_batches.h), each with its own connection to the same file.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/core/result.h"
#include "gateway/outbox/batch_format.h"
#include "gateway/store/sqlite_util.h"

namespace yktgw::platform {

struct AcceptCounts {
  std::uint32_t accepted = 0;    // new records stored
  std::uint32_t duplicates = 0;  // records this platform already had
  bool operator==(const AcceptCounts&) const = default;
};

struct SourceCount {
  std::string platform;        // "crossprov", "district", ...
  std::string source_gateway;  // gateway.id of the sender
  std::uint64_t unique = 0;
  std::uint64_t duplicates = 0;  // repeats received (a record sent three times counts 2)
  bool operator==(const SourceCount&) const = default;
};

class ReceivedStore {
 public:
  // Creates the file and tables when missing; WAL, synchronous=NORMAL.
  static Result<ReceivedStore> open(const std::string& path);

  // One batch, in one transaction: either every record is counted or none is.
  Result<AcceptCounts> accept(std::string_view platform, std::string_view source_gateway,
                              std::string_view batch_id,
                              const std::vector<outbox::ForwardedRecord>& records,
                              std::int64_t now_ms);

  Result<std::vector<SourceCount>> counts() const;
  // The txn_ids this platform stored from a gateway, for tests that look for gaps.
  Result<std::vector<std::string>> txn_ids(std::string_view platform,
                                           std::string_view source_gateway) const;

 private:
  explicit ReceivedStore(sqlite::Database db) : db_(std::move(db)) {}
  sqlite::Database db_;
  sqlite::Statement insert_;
  sqlite::Statement bump_;
  sqlite::Statement batch_;
};

// `ykt-platform-sim count --db FILE [--kind txn|attendance]`: opens the file read-only. A file
// without the tables yields an empty list. `kind` empty: records of every kind.
Result<std::vector<SourceCount>> count_received(const std::string& db_path,
                                                std::string_view kind = {});
// One line per platform and gateway: "platform<TAB>gateway<TAB>unique<TAB>duplicates".
std::string format_counts(const std::vector<SourceCount>& counts);

}  // namespace yktgw::platform
