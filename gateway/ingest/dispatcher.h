#pragma once
// Takes terminal messages off the transport's thread, parses them once, and answers: auth
// requests get a decision, txn records go to the store and are acked after their commit,
// status messages update the terminal registry. Anything malformed is refused with a reason
// code, counted, logged at a limited rate, and never stops the others.

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gateway/core/latency_buckets.h"
#include "gateway/core/log_throttle.h"
#include "gateway/core/reason.h"
#include "gateway/crypto/card_tokenizer.h"
#include "gateway/ingest/rate_limiter.h"
#include "gateway/ingest/terminal_registry.h"
#include "gateway/interfaces/authorizer.h"
#include "gateway/interfaces/clock.h"
#include "gateway/interfaces/record_store.h"
#include "gateway/interfaces/terminal_link.h"
#include "gateway/interfaces/txn_annotator.h"
#include "gateway/protocol/terminal_protocol.h"

namespace spdlog {
class logger;
}

namespace yktgw {

struct DispatcherOptions {
  std::string site;
  int workers = 2;
  int queue_capacity = 65536;
  // Payload bytes queued for the workers; a message that would go past it is dropped (one
  // message is always taken when the queue is empty).
  std::size_t queue_max_bytes = std::size_t{64} << 20;
  int max_payload_bytes = 16384;
  // txn/batch (bulk upload): records per message and bytes per message.
  int max_batch_records = 500;
  int max_batch_payload_bytes = 1 << 20;
  int warn_interval_ms = 10000;
  // Auth requests are decided on the transport's thread instead of a worker's: one thread
  // hand-off less per tap. Deciding never blocks (QR signatures go to the crypto pool, online
  // checks to the district link); records and status messages still go to the workers.
  bool inline_auth = false;
  // Per-terminal token bucket (gateway.terminal_rate_per_s / terminal_burst); 0: no limit.
  int terminal_rate_per_s = 0;
  int terminal_burst = 0;
};

struct IngestStats {
  std::uint64_t received = 0;
  std::uint64_t auth_requests = 0;
  std::uint64_t approved = 0;
  std::uint64_t declined = 0;
  std::uint64_t txn_received = 0;
  std::uint64_t txn_batches = 0;  // txn/batch messages; their records count in txn_* too
  std::uint64_t txn_stored = 0;
  std::uint64_t txn_duplicate = 0;
  std::uint64_t txn_rejected = 0;
  std::uint64_t txn_store_failed = 0;
  std::uint64_t txn_store_busy = 0;
  // Not taken while the disk quota was reached: a txn or txn/batch message found at the quota,
  // or a record the store then refused for it (StoreOutcome::over_quota).
  std::uint64_t txn_quota_refused = 0;
  std::uint64_t status_messages = 0;
  std::uint64_t dropped_queue_full = 0;
  std::uint64_t dropped_stopping = 0;
  std::uint64_t unroutable = 0;          // topic outside our layout or site
  std::uint64_t publish_failed = 0;      // replies Paho would not take (backpressure, offline)
  std::uint64_t bad_response_topic = 0;  // v5 response topics outside the terminal's prefix
  std::uint64_t rate_limited = 0;        // messages over their terminal's rate, not handled
  std::array<std::uint64_t, kReasonCount> auth_by_reason{};     // decisions and refusals
  std::array<std::uint64_t, kReasonCount> refused_by_reason{};  // bad input, all kinds
};

class Dispatcher {
 public:
  struct Deps {
    TerminalLink& link;
    RecordStore& store;
    const Authorizer& authorizer;
    const CardTokenizer& tokenizer;
    const Clock& clock;
    std::shared_ptr<spdlog::logger> log;
    // Fills token, mask, region and service item of a record; null: card token and mask only.
    const TxnAnnotator* annotator = nullptr;
    // True while the data directory is at its disk quota: new records are not taken (and so
    // not acked; terminals keep them) until forwarding and pruning free space.
    std::function<bool()> store_full{};
    // Called after records were committed, so forwarding need not wait for its next poll.
    std::function<void()> records_committed{};
  };

  Dispatcher(Deps deps, DispatcherOptions options);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  void start();
  // The transport's handler, never blocks: decides an auth request here (inline_auth) or hands
  // the message to a worker.
  void on_message(InboundMessage&& msg);
  // Refuses new messages, finishes the queued ones, joins the workers.
  void stop();

  void set_warn_interval(std::chrono::milliseconds interval) { warn_limit_.set_interval(interval); }
  IngestStats stats() const;
  // Auth request latency: from the transport handing the request over to the reply being
  // published (queueing, decision, any online round trip).
  LatencySnapshot auth_latency() const { return auth_latency_.snapshot(); }
  const TerminalRegistry& terminals() const { return terminals_; }

 private:
  struct Counters;
  struct Queued {
    InboundMessage msg;
    std::chrono::steady_clock::time_point arrived;
    bool rate_limited = false;  // only told so (auth requests), not handled
  };
  void worker_loop();
  void handle_rate_limited(InboundMessage& msg);
  void handle(Queued& q);
  void handle_auth(InboundMessage& msg, const TopicAddress& from,
                   std::chrono::steady_clock::time_point arrived);
  void handle_txn(InboundMessage& msg, const TopicAddress& from);
  void handle_txn_batch(InboundMessage& msg, const TopicAddress& from);
  // The stored form of a parsed record; wipes the full card number from `t`.
  TxnRecord make_record(protocol::TxnMessage& t, const TopicAddress& from, UtcMillis now) const;
  // Counts and logs a record not taken at the disk quota; true when at the quota.
  bool at_quota();
  void handle_status(InboundMessage& msg, const TopicAddress& from);
  // Publishes a reply to the v5 response topic when the request named an acceptable one,
  // else to `default_topic`.
  void reply(const InboundMessage& request, const TopicAddress& from, std::string default_topic,
             std::string payload);
  void warn_refused(Reason reason, const TopicAddress& from, const std::string& detail);

  Deps deps_;
  const DispatcherOptions options_;
  std::unique_ptr<Counters> counters_;
  TerminalRegistry terminals_;
  SharedLogThrottle warn_limit_;
  LatencyBuckets auth_latency_;
  TerminalRateLimiter limiter_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Queued> queue_;
  std::size_t queued_bytes_ = 0;
  int inline_active_ = 0;  // auth requests being decided on the transport's thread
  std::condition_variable inline_done_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace yktgw
