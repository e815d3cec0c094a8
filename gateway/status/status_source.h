#pragma once
// What the status server reads, as plain values. The composition root implements StatusSource
// over the gateway's parts; the server, the pages and the metrics know nothing else, and unit
// tests feed them fixed snapshots.

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "gateway/core/latency_buckets.h"
#include "gateway/core/reason.h"
#include "gateway/core/records.h"
#include "gateway/core/result.h"
#include "gateway/ingest/terminal_registry.h"

namespace yktgw::status {

// One upstream destination (district, crossprov) as the forwarder sees it.
struct LinkView {
  std::string destination;
  std::string state;          // idle | sending | backoff | no_link | stopped
  bool connected = false;     // the link itself answers (heartbeats, last request)
  std::uint64_t backlog = 0;  // records neither acked nor dead-lettered
  std::uint32_t in_flight = 0;
  std::int64_t lag_ms = 0;    // age of the oldest record in the backlog
  UtcMillis last_ack_ms = 0;  // 0: none since start
  std::uint64_t dead_letters = 0;
  std::uint64_t batches_delivered = 0;
  std::uint64_t records_delivered = 0;
  std::uint64_t retries = 0;
  std::uint64_t batches_rejected = 0;
  std::string last_error;
};

struct CardListView {
  std::int64_t version = 0;
  std::int64_t age_ms = 0;
  bool stale = true;
  std::uint64_t entries = 0;
  std::string feed_id;
};

// The decision engine's own counters since start (PolicyAuthorizer::Stats): how often it asked
// the platform and what came of it. The auth counters above count answers sent to terminals.
struct EngineView {
  std::uint64_t decisions = 0;
  std::uint64_t approved = 0;
  std::uint64_t declined = 0;
  std::uint64_t online_asked = 0;       // requests sent to the platform
  std::uint64_t online_answered = 0;    // the platform answered in time (mode online)
  std::uint64_t online_timeout = 0;     // no answer within the scenario's deadline
  std::uint64_t online_link_down = 0;   // link down: not asked, or lost while waiting
  std::uint64_t online_error = 0;       // any other failure of the online client
  std::uint64_t offline_decided = 0;    // decided by the offline rules (incl. fallbacks)
  std::uint64_t pool_busy = 0;          // QR checks refused with busy: crypto pool full
  std::uint64_t attendance_stored = 0;  // clock-ins stored as attendance records
  std::uint64_t attendance_failed = 0;  // clock-ins the store's queue refused or failed to commit
  // Clock-ins not written because the disk quota was reached (the gate was still answered).
  std::uint64_t attendance_refused_quota = 0;
};

struct Alarm {
  std::string code;    // stable: dead_letters, disk_quota, broker_down, cardlist_stale, ...
  std::string detail;  // English, one line
};

// Cumulative counters since the gateway started, plus current figures.
struct StatusSnapshot {
  std::string gateway_id;
  std::string site;
  std::string version;
  UtcMillis now_ms = 0;
  UtcMillis started_ms = 0;
  bool broker_connected = false;
  std::vector<LinkView> links;
  CardListView cardlist;
  std::uint64_t auth_requests = 0;
  std::uint64_t approved = 0;
  std::uint64_t declined = 0;
  std::map<std::string, std::uint64_t> declined_by_reason;  // reason code -> count, non-zero
  std::uint64_t txn_received = 0;
  std::uint64_t txn_stored = 0;
  std::uint64_t txn_duplicate = 0;
  std::uint64_t txn_rejected = 0;
  std::uint64_t txn_batches = 0;  // txn/batch messages (their records count above)
  std::uint64_t dropped = 0;      // queue full or stopping
  LatencySnapshot auth_latency;
  EngineView engine;
  std::uint64_t store_queued = 0;
  std::uint64_t store_commits = 0;  // group commits to records.db since start
  bool store_writable = true;
  bool over_quota = false;
  std::size_t terminals = 0;
  std::size_t terminals_online = 0;
  std::vector<Alarm> alarms;
};

struct TerminalView {
  TerminalInfo info;
  std::string scenario;  // from the terminal assignments of the policies; empty: unassigned
};

// A dead letter, without anything from the records themselves.
struct DeadLetterView {
  std::int64_t id = 0;
  std::string batch_id;
  std::string destination;
  std::uint32_t count = 0;
  std::string reason;
  std::string state;  // dead | retry_requested | retrying | resolved
  UtcMillis created_ms = 0;
  UtcMillis updated_ms = 0;
  int retries = 0;
};

// Approved transactions of one Asia/Shanghai calendar day, one item, one scenario and one
// credential type.
struct DepthCount {
  std::int64_t day = 0;  // days since 1970-01-01 in Asia/Shanghai
  int service_item = 0;  // 0: not mapped to a catalogue item
  std::string scenario;
  CredentialType type = CredentialType::card;
  std::uint64_t count = 0;
  bool operator==(const DepthCount&) const = default;
};

// An item of the catalogue as the depth figures need it.
struct DepthTarget {
  int item = 0;
  std::string name;
  std::string department;
  std::vector<std::string> use_classes;  // identity | disbursement | payment
  // Per target date of the plan (2025初, 2025底, 2026底, 2027底): level 0 (none) .. 3, and the
  // share it stands for in percent (0 where the level is not a share).
  std::array<int, 4> level{};
  std::array<int, 4> percent{};
  std::string note;
};

struct Readiness {
  bool broker_connected = false;
  bool store_writable = false;
  std::string detail;  // why not, when not ready
};

class StatusSource {
 public:
  virtual ~StatusSource() = default;
  virtual StatusSnapshot status() const = 0;
  virtual std::vector<TerminalView> terminals() const = 0;
  virtual Result<std::vector<DeadLetterView>> dead_letters() const = 0;
  // Counts of approved transactions whose terminal time is at or after `from_ms`.
  virtual Result<std::vector<DepthCount>> depth_counts(UtcMillis from_ms) const = 0;
  virtual std::vector<DepthTarget> depth_targets() const = 0;
  // Scenario name -> its catalogue item, from the policies in force.
  virtual std::map<std::string, int> scenario_items() const = 0;
  virtual Readiness readiness() const = 0;
};

}  // namespace yktgw::status
