#pragma once
// What the command line (`yktgw deadletter ...`, `yktgw outbox stats`) does, as functions over
// the files, so it works whether the daemon is running or not. A running forwarder picks up
// retry requests within ForwarderOptions::dead_letter_poll; a stopped one at its next start.

#include <cstdint>
#include <string>
#include <vector>

#include "gateway/core/result.h"
#include "gateway/outbox/outbox_db.h"
#include "gateway/outbox/router.h"

namespace yktgw::outbox {

// `yktgw deadletter list`: newest first; resolved ones only with `include_resolved`.
Result<std::vector<DeadLetter>> list_dead_letters(const std::string& outbox_db,
                                                  bool include_resolved = false);

// `yktgw deadletter retry ID`: queues the letter's records for a re-send. Error "not_found"
// for an unknown id, "not_dead" when it is already being retried or resolved.
Result<DeadLetter> retry_dead_letter(const std::string& outbox_db, std::int64_t id, UtcMillis now);
// `yktgw deadletter retry --all`: how many were queued.
Result<int> retry_all_dead_letters(const std::string& outbox_db, UtcMillis now);

// `yktgw outbox stats` from the files: what a destination's cursor has not passed yet.
struct OutboxFileStats {
  std::string destination;
  std::uint64_t acked_seq = 0;
  std::uint64_t backlog = 0;       // routed rows past the cursor, less those acked out of order
  std::int64_t lag_ms = 0;         // age of the oldest of them; 0 when none
  std::uint64_t open_batches = 0;  // recorded, not yet passed by the cursor
  std::uint64_t dead_letters = 0;  // not resolved
  bool operator==(const OutboxFileStats&) const = default;
};
Result<std::vector<OutboxFileStats>> outbox_stats(const std::string& records_db,
                                                  const std::string& outbox_db,
                                                  const Router& router, UtcMillis now);

// Plain-text tables for the terminal (UTF-8, one row per line, header first).
std::string format_dead_letters(const std::vector<DeadLetter>& letters);
std::string format_outbox_stats(const std::vector<OutboxFileStats>& stats);

}  // namespace yktgw::outbox
