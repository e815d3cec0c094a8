#include "gateway/status/metrics.h"

#include <fmt/format.h>

#include <map>

namespace yktgw::status {
namespace {

class Writer {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  void sample(std::string_view name, double value, std::string_view labels = {}) {
    if (labels.empty()) {
      out_ += fmt::format("{} {}\n", name, number(value));
    } else {
      out_ += fmt::format("{}{{{}}} {}\n", name, labels, number(value));
    }
  }
  void sample(std::string_view name, std::uint64_t value, std::string_view labels = {}) {
    if (labels.empty()) {
      out_ += fmt::format("{} {}\n", name, value);
    } else {
      out_ += fmt::format("{}{{{}}} {}\n", name, labels, value);
    }
  }
  std::string take() { return std::move(out_); }

 private:
  static std::string number(double v) { return fmt::format("{}", v); }
  std::string out_;
};

std::string label(std::string_view name, std::string_view value) {
  return fmt::format("{}=\"{}\"", name, escape_label_value(value));
}

std::uint64_t b(bool v) { return v ? 1 : 0; }

}  // namespace

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string format_metrics(const StatusSnapshot& s) {
  Writer w;
  w.family("yktgw_build_info", "gauge", "Version, gateway id and site of this gateway; always 1");
  w.sample("yktgw_build_info", std::uint64_t{1},
           label("version", s.version) + "," + label("gateway", s.gateway_id) + "," +
               label("site", s.site));
  w.family("yktgw_uptime_seconds", "gauge", "Seconds since the gateway started");
  w.sample("yktgw_uptime_seconds", static_cast<double>(s.now_ms - s.started_ms) / 1000.0);
  w.family("yktgw_broker_connected", "gauge", "1 while the MQTT broker connection is up");
  w.sample("yktgw_broker_connected", b(s.broker_connected));

  w.family("yktgw_auth_requests_total", "counter", "Auth requests received");
  w.sample("yktgw_auth_requests_total", s.auth_requests);
  w.family("yktgw_auth_decisions_total", "counter", "Auth decisions sent, by decision");
  w.sample("yktgw_auth_decisions_total", s.approved, label("decision", "approve"));
  w.sample("yktgw_auth_decisions_total", s.declined, label("decision", "decline"));
  w.family("yktgw_auth_declines_total", "counter",
           "Declined auth requests by reason code (docs/terminal-protocol.md)");
  for (const auto& [reason, n] : s.declined_by_reason)
    w.sample("yktgw_auth_declines_total", n, label("reason", reason));

  w.family("yktgw_auth_latency_seconds", "histogram",
           "Time from receiving an auth request to publishing its answer");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kLatencyBuckets; ++i) {
    cumulative += s.auth_latency.counts[i];
    const std::string le = i < kLatencyBoundsUs.size()
                               ? fmt::format("{}", static_cast<double>(kLatencyBoundsUs[i]) / 1e6)
                               : std::string("+Inf");
    w.sample("yktgw_auth_latency_seconds_bucket", cumulative, label("le", le));
  }
  w.sample("yktgw_auth_latency_seconds_sum", static_cast<double>(s.auth_latency.sum_us) / 1e6);
  w.sample("yktgw_auth_latency_seconds_count", cumulative);

  const EngineView& e = s.engine;
  w.family("yktgw_engine_decisions_total", "counter",
           "Decisions made by the policy engine, by decision");
  w.sample("yktgw_engine_decisions_total", e.approved, label("decision", "approve"));
  w.sample("yktgw_engine_decisions_total", e.declined, label("decision", "decline"));
  w.family("yktgw_engine_online_asked_total", "counter",
           "Online authorization requests the engine sent to the platform");
  w.sample("yktgw_engine_online_asked_total", e.online_asked);
  w.family("yktgw_engine_online_outcomes_total", "counter",
           "Online authorizations by outcome; link_down also counts taps not asked for it");
  w.sample("yktgw_engine_online_outcomes_total", e.online_answered, label("outcome", "answered"));
  w.sample("yktgw_engine_online_outcomes_total", e.online_timeout, label("outcome", "timeout"));
  w.sample("yktgw_engine_online_outcomes_total", e.online_link_down, label("outcome", "link_down"));
  w.sample("yktgw_engine_online_outcomes_total", e.online_error, label("outcome", "error"));
  w.family("yktgw_engine_offline_decisions_total", "counter",
           "Taps decided by the offline rules, including fallbacks after a failed online ask");
  w.sample("yktgw_engine_offline_decisions_total", e.offline_decided);
  w.family("yktgw_engine_pool_busy_total", "counter",
           "QR checks declined busy because the crypto pool's queue was full");
  w.sample("yktgw_engine_pool_busy_total", e.pool_busy);
  w.family("yktgw_engine_attendance_records_total", "counter",
           "Clock-ins recorded as attendance, by outcome (stored | failed | refused_quota)");
  w.sample("yktgw_engine_attendance_records_total", e.attendance_stored,
           label("outcome", "stored"));
  w.sample("yktgw_engine_attendance_records_total", e.attendance_failed,
           label("outcome", "failed"));
  w.sample("yktgw_engine_attendance_records_total", e.attendance_refused_quota,
           label("outcome", "refused_quota"));

  w.family("yktgw_txn_records_total", "counter", "Transaction records by outcome");
  w.sample("yktgw_txn_records_total", s.txn_received, label("outcome", "received"));
  w.sample("yktgw_txn_records_total", s.txn_stored, label("outcome", "stored"));
  w.sample("yktgw_txn_records_total", s.txn_duplicate, label("outcome", "duplicate"));
  w.sample("yktgw_txn_records_total", s.txn_rejected, label("outcome", "rejected"));
  w.family("yktgw_txn_batches_total", "counter",
           "Bulk uploads (txn/batch messages); their records count in yktgw_txn_records_total");
  w.sample("yktgw_txn_batches_total", s.txn_batches);
  w.family("yktgw_messages_dropped_total", "counter",
           "Terminal messages dropped because the queue was full or the gateway was stopping");
  w.sample("yktgw_messages_dropped_total", s.dropped);

  w.family("yktgw_store_queue_records", "gauge", "Records waiting for the store's writer");
  w.sample("yktgw_store_queue_records", s.store_queued);
  w.family("yktgw_store_commits_total", "counter",
           "Group commits to records.db; records stored over commits is the group size");
  w.sample("yktgw_store_commits_total", s.store_commits);
  w.family("yktgw_store_writable", "gauge", "0 when the latest commit to records.db failed");
  w.sample("yktgw_store_writable", b(s.store_writable));
  w.family("yktgw_disk_quota_reached", "gauge", "1 while new records are refused for the quota");
  w.sample("yktgw_disk_quota_reached", b(s.over_quota));

  w.family("yktgw_terminals", "gauge", "Known terminals by state");
  w.sample("yktgw_terminals", static_cast<std::uint64_t>(s.terminals_online),
           label("state", "online"));
  w.sample("yktgw_terminals", static_cast<std::uint64_t>(s.terminals - s.terminals_online),
           label("state", "offline"));

  w.family("yktgw_upstream_link_up", "gauge", "1 while the upstream link answers");
  for (const auto& l : s.links)
    w.sample("yktgw_upstream_link_up", b(l.connected), label("destination", l.destination));
  w.family("yktgw_outbox_backlog_records", "gauge", "Records not yet acked, per destination");
  for (const auto& l : s.links)
    w.sample("yktgw_outbox_backlog_records", l.backlog, label("destination", l.destination));
  w.family("yktgw_outbox_in_flight_batches", "gauge", "Batches sent and not yet answered");
  for (const auto& l : s.links)
    w.sample("yktgw_outbox_in_flight_batches", std::uint64_t{l.in_flight},
             label("destination", l.destination));
  w.family("yktgw_outbox_lag_seconds", "gauge", "Age of the oldest record not yet acked");
  for (const auto& l : s.links)
    w.sample("yktgw_outbox_lag_seconds", static_cast<double>(l.lag_ms) / 1000.0,
             label("destination", l.destination));
  w.family("yktgw_outbox_last_ack_timestamp_seconds", "gauge",
           "Unix time of the last accepted batch; 0: none since start");
  for (const auto& l : s.links)
    w.sample("yktgw_outbox_last_ack_timestamp_seconds", static_cast<double>(l.last_ack_ms) / 1000.0,
             label("destination", l.destination));
  w.family("yktgw_outbox_dead_letters", "gauge", "Rejected batches not yet resolved");
  for (const auto& l : s.links)
    w.sample("yktgw_outbox_dead_letters", l.dead_letters, label("destination", l.destination));
  w.family("yktgw_outbox_records_delivered_total", "counter", "Records acked by the platform");
  for (const auto& l : s.links)
    w.sample("yktgw_outbox_records_delivered_total", l.records_delivered,
             label("destination", l.destination));
  w.family("yktgw_outbox_batches_delivered_total", "counter", "Batches acked by the platform");
  for (const auto& l : s.links)
    w.sample("yktgw_outbox_batches_delivered_total", l.batches_delivered,
             label("destination", l.destination));
  w.family("yktgw_outbox_retries_total", "counter", "Retry-later answers from the platform");
  for (const auto& l : s.links)
    w.sample("yktgw_outbox_retries_total", l.retries, label("destination", l.destination));
  w.family("yktgw_outbox_batches_rejected_total", "counter", "Batches the platform rejected");
  for (const auto& l : s.links)
    w.sample("yktgw_outbox_batches_rejected_total", l.batches_rejected,
             label("destination", l.destination));

  w.family("yktgw_cardlist_version", "gauge", "Version of the card list in use");
  w.sample("yktgw_cardlist_version", static_cast<double>(s.cardlist.version));
  w.family("yktgw_cardlist_age_seconds", "gauge", "Seconds since the card list was last current");
  w.sample("yktgw_cardlist_age_seconds", static_cast<double>(s.cardlist.age_ms) / 1000.0);
  w.family("yktgw_cardlist_stale", "gauge", "1 while the card list is older than allowed");
  w.sample("yktgw_cardlist_stale", b(s.cardlist.stale));
  w.family("yktgw_cardlist_entries", "gauge", "Cards on the list");
  w.sample("yktgw_cardlist_entries", s.cardlist.entries);

  // One series per code (a series may appear only once); the value counts the alarms of that
  // code, e.g. two destinations without a link.
  w.family("yktgw_alarm_active", "gauge", "Active alarms by code, how many; absent when none");
  std::map<std::string, std::uint64_t> by_code;
  for (const auto& a : s.alarms) ++by_code[a.code];
  for (const auto& [code, n] : by_code) w.sample("yktgw_alarm_active", n, label("code", code));
  return w.take();
}

}  // namespace yktgw::status
