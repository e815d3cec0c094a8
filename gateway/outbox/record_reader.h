#pragma once
// Reads committed records from records.db for one destination, over a connection of its own.
// The store's writer thread owns inserts; WAL lets this connection read beside it, and every
// statement is reset after use so no read transaction stays open to hold back checkpoints.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "gateway/core/result.h"
#include "gateway/outbox/batch_format.h"
#include "gateway/store/sqlite_util.h"

namespace yktgw::outbox {

class RecordReader {
 public:
  // `condition`: Router::sql_condition() of the destination. Fails when records.db or its txn
  // table is missing (the record store creates both; open it first).
  static Result<RecordReader> open(const std::string& records_db, const std::string& condition,
                                   std::string gateway_id);

  using Sink = std::function<void(ForwardedRecord&&)>;
  // Rows with after < seq <= upto that match, in seq order, at most `limit`. Returns how many.
  Result<std::size_t> read(std::uint64_t after, std::uint64_t upto, int limit, const Sink& sink);
  // How many rows with after < seq <= upto match. Callers count a growing backlog piece by
  // piece rather than all of it on every look.
  Result<std::uint64_t> count(std::uint64_t after, std::uint64_t upto);
  // received_ms of the first matching row after `after`; nullopt when there is none.
  Result<std::optional<UtcMillis>> first_received(std::uint64_t after);
  // The highest seq in the table (matching or not); 0 when empty.
  Result<std::uint64_t> max_seq();

 private:
  RecordReader(sqlite::Database db, std::string gateway_id)
      : db_(std::move(db)), gateway_id_(std::move(gateway_id)) {}
  sqlite::Database db_;
  sqlite::Statement read_;
  sqlite::Statement count_;
  sqlite::Statement first_;
  sqlite::Statement max_;
  std::string gateway_id_;
};

}  // namespace yktgw::outbox
