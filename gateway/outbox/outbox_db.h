#pragma once
// outbox.db: what the forwarder must remember across restarts, in its own SQLite file in the
// data directory beside records.db.
//
// Why a separate file rather than more tables in records.db: the record store's single writer
// owns records.db and its schema (gateway/store); forwarding state changes on every ack, and
// keeping those small writes out of records.db keeps them off the writer's lock and its group
// commits. The outbox only reads records.db. Nothing here copies a record: a destination's
// progress is a cursor (a sequence number) plus the ranges of the batches above it.
//
// Durability: WAL with synchronous=NORMAL. A power cut may lose the last cursor moves or batch
// ranges; then batches are sent again (possibly cut differently, so under other ids) and the
// platform drops the repeats by txn_id. Records are never lost that way, only re-sent.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/core/records.h"
#include "gateway/core/result.h"
#include "gateway/store/sqlite_util.h"

namespace yktgw::outbox {

enum class BatchKind : std::uint8_t {
  stream,  // in cursor order; the cursor moves over it once it is acked or dead-lettered
  retry,   // an operator's re-send of a dead letter; outside the cursor's order
};

struct StoredBatch {
  std::string id;
  std::string destination;
  BatchKind kind = BatchKind::stream;
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;
  std::uint32_t count = 0;
  bool done = false;                // acked or dead-lettered while batches below it were not
  std::int64_t dead_letter_id = 0;  // kind retry: the dead letter it re-sends
  UtcMillis created_ms = 0;
  bool operator==(const StoredBatch&) const = default;
};

enum class DeadLetterState : std::uint8_t {
  dead,             // rejected; waiting for an operator
  retry_requested,  // `yktgw deadletter retry` asked for it; the forwarder picks it up
  retrying,         // re-sent under a new id; waiting for the platform's answer
  resolved,         // a re-send was accepted
};
std::string_view to_string(DeadLetterState s);
std::optional<DeadLetterState> dead_letter_state_from(std::string_view s);

struct DeadLetter {
  std::int64_t id = 0;
  std::string batch_id;  // the id of the rejected send
  std::string destination;
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;
  std::uint32_t count = 0;
  std::string reason;  // the platform's answer, e.g. "http 400: missing field ..."
  UtcMillis created_ms = 0;
  UtcMillis updated_ms = 0;
  DeadLetterState state = DeadLetterState::dead;
  int retries = 0;
  bool operator==(const DeadLetter&) const = default;
};

class OutboxDb {
 public:
  // Creates the file when missing (WAL, synchronous=NORMAL) and brings its schema up to date.
  static Result<OutboxDb> open(const std::string& path);
  static const std::vector<std::string_view>& migrations();

  // 0 when the destination has never acked anything.
  Result<std::uint64_t> acked_seq(std::string_view destination) const;
  Result<std::vector<std::pair<std::string, std::uint64_t>>> cursors() const;
  // Stream batches by last_seq, then retry batches by id.
  Result<std::vector<StoredBatch>> batches(std::string_view destination) const;

  Result<void> insert_batch(const StoredBatch& b);
  Result<void> mark_batch_done(std::string_view batch_id);
  // Moves the cursor and forgets the stream batches at or below it, in one transaction.
  Result<void> advance_cursor(std::string_view destination, std::uint64_t acked_seq, UtcMillis now);
  // A stream batch the platform rejected: the dead letter and the batch's "done" mark in one
  // transaction, so a crash cannot move the cursor past a rejection nobody recorded.
  Result<std::int64_t> dead_letter_batch(const StoredBatch& b, std::string_view reason,
                                         UtcMillis now);

  // Newest first. `destination` empty: all of them.
  Result<std::vector<DeadLetter>> dead_letters(std::string_view destination,
                                               bool include_resolved) const;
  Result<std::optional<DeadLetter>> dead_letter(std::int64_t id) const;
  // Not resolved (dead, retry requested or retrying): what the alarm counts.
  Result<std::uint64_t> open_dead_letters(std::string_view destination) const;
  Result<std::vector<DeadLetter>> retry_requests(std::string_view destination) const;

  // For the CLI. Marks dead letters for a re-send by the running forwarder (or the next one to
  // start). Returns how many were marked; a letter already retrying or resolved is left alone.
  Result<int> request_retry(std::int64_t id, UtcMillis now);
  Result<int> request_retry_all(UtcMillis now);

  // The forwarder took a retry request: records the re-send batch and the letter's new state.
  Result<void> start_retry(const DeadLetter& letter, const StoredBatch& resend, UtcMillis now);
  // The re-send's outcome: resolved, or dead again with the new reason.
  Result<void> finish_retry(const StoredBatch& resend, bool delivered, std::string_view reason,
                            UtcMillis now);

  const sqlite::Database& db() const { return db_; }

 private:
  explicit OutboxDb(sqlite::Database db) : db_(std::move(db)) {}
  sqlite::Database db_;
};

}  // namespace yktgw::outbox
