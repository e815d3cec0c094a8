#pragma once
// The forwarding core: one cursor per destination over the committed rows of records.db, a
// batcher per destination, batches in flight up to the link's window, retries with backoff and
// dead letters. Links only carry batches (gateway/interfaces/upstream_link.h); everything about
// what to send again and when lives here.
//
// Threads: start() runs one thread per destination that has a link, so a slow or absent
// platform never delays another. Each thread has its own connections to records.db (read) and
// outbox.db. A link's completion callback only queues the result and wakes that thread.
//
// Guarantees:
//  - a batch's range and id are written to outbox.db before its first send, so a retry, a
//    restart or a crash re-sends the same records under the same id;
//  - the cursor moves only over a contiguous prefix of acked (or dead-lettered) batches, so acks
//    may arrive in any order;
//  - a rejected batch becomes a dead letter (in the same transaction that lets the cursor pass
//    it) and raises the alarm; its records stay in records.db until a re-send is accepted.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gateway/core/result.h"
#include "gateway/interfaces/clock.h"
#include "gateway/interfaces/upstream_link.h"
#include "gateway/outbox/batcher.h"
#include "gateway/outbox/router.h"

namespace spdlog {
class logger;
}

namespace yktgw::outbox {

struct ForwarderOptions {
  std::string records_db;  // the record store's file; only read here
  std::string outbox_db;   // this component's own file (created when missing)
  std::string gateway_id;  // first part of every batch id, and "gateway" in every record line
  BatchLimits limits;
  std::chrono::milliseconds retry_min{500};
  std::chrono::milliseconds retry_max{10'000};
  // How often an idle destination looks for new rows when nobody calls wake().
  std::chrono::milliseconds poll_interval{20};
  // How often the rows not yet read are counted for the backlog figure (a COUNT over them).
  std::chrono::milliseconds stats_interval{2'000};
  // How often retry requests written by `yktgw deadletter retry` are picked up.
  std::chrono::milliseconds dead_letter_poll{1'000};
  int gzip_level = 1;
  // Nice value of the destinations' and the compression threads (0..19, 0: unchanged): a
  // backlog drain then takes only the CPU that answering terminals leaves.
  int thread_nice = 0;
  // Uniform draws in [0, 1] for the backoff jitter; empty: a random generator per destination.
  // Called from the destinations' threads: must be thread-safe when start() is used.
  std::function<double()> jitter;
};

enum class DestinationState : std::uint8_t {
  idle,     // nothing to send
  sending,  // records waiting or batches in flight, platform answering
  backoff,  // the platform asked to retry later; one probe batch at a time until it acks
  no_link,  // the router sends records here but no link is configured: they are kept
  stopped,
};
std::string_view to_string(DestinationState s);

struct DestinationStats {
  std::string destination;
  DestinationState state = DestinationState::idle;
  std::uint64_t backlog = 0;            // records routed here and neither acked nor dead-lettered
  std::uint32_t in_flight = 0;          // batches sent and not yet answered
  std::uint64_t acked_seq = 0;          // the cursor
  UtcMillis last_ack_ms = 0;            // wall time of the last accepted batch; 0: none since start
  std::int64_t lag_ms = 0;              // age of the oldest record in the backlog; 0 when empty
  std::uint64_t dead_letters = 0;       // not resolved; the alarm is up while this is non-zero
  std::uint64_t batches_delivered = 0;  // since start
  std::uint64_t records_delivered = 0;
  std::uint64_t retries = 0;           // retry_later answers since start
  std::uint64_t batches_rejected = 0;  // since start
  std::string last_error;              // the last retry_later or rejected detail
  bool operator==(const DestinationStats&) const = default;
};

class Forwarder {
 public:
  // `links`: destination name → link, not owned; they must outlive the Forwarder. A destination
  // the router names without a link is reported as no_link and its records are kept. Opens
  // outbox.db and a records.db reader per destination and reloads unfinished batches.
  static Result<std::unique_ptr<Forwarder>> open(ForwarderOptions options, const Router& router,
                                                 std::map<std::string, UpstreamLink*> links,
                                                 const Clock& clock,
                                                 std::shared_ptr<spdlog::logger> log);
  ~Forwarder();
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  void start();
  // Stops forming and sending batches, waits up to `timeout` for answers to the batches in
  // flight, then joins. Everything needed to resume is already in outbox.db; a batch still
  // unanswered is sent again, under the same id, by the next start. Idempotent.
  void stop(std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // New rows were committed: look now instead of at the next poll. Cheap; safe from any thread
  // (e.g. the record store's completion).
  void wake();

  std::vector<DestinationStats> stats() const;
  // Up while any destination has a dead letter that is not resolved.
  bool dead_letter_alarm() const;

  // For tests driving a fake clock: one pass of every destination's loop on the caller's
  // thread (apply answers, pick up retry requests, read, batch, send). Not with start().
  void step();

  class Destination;  // one per destination; defined in forwarder.cpp

 private:
  Forwarder() = default;
  std::shared_ptr<const ForwarderOptions> options_;
  std::vector<std::unique_ptr<Destination>> destinations_;
  std::shared_ptr<spdlog::logger> log_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace yktgw::outbox
