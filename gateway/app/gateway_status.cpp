#include "gateway/app/gateway_status.h"

#include <sqlite3.h>

#include <algorithm>

#include "connectors/mqtt/paho_terminal_link.h"
#include "connectors/zmq/district_link.h"
#include "gateway/cardlist/card_list_cache.h"
#include "gateway/core/version.h"
#include "gateway/ingest/dispatcher.h"
#include "gateway/interfaces/clock.h"
#include "gateway/outbox/disk_quota.h"
#include "gateway/outbox/forwarder.h"
#include "gateway/outbox/outbox_admin.h"
#include "gateway/policy/policies.h"
#include "gateway/policy/policy_authorizer.h"
#include "gateway/policy/service_catalog.h"
#include "gateway/store/sqlite_record_store.h"
#include "gateway/store/sqlite_util.h"

namespace yktgw {

// Approved transactions (attendance records are not taps of their own: the terminal reports
// the same tap as a transaction) per Shanghai calendar day, item, scenario and credential type. The
// range condition on received_ms uses the txn_received index, so the cost is bounded by the rows of
// the period asked for (a month at most) rather than by the whole store; ts_ms (the terminal's
// time) then decides the day. A record received more than a day after it happened is missed
// at the start of a month, which the one-day margin covers for terminals that were offline
// briefly.
constexpr std::string_view kDepthSql = R"sql(
SELECT (ts_ms + 28800000) / 86400000 AS day, service_item, scenario, cred_type, COUNT(*)
FROM txn
WHERE received_ms >= ?1 - 86400000 AND ts_ms >= ?1 AND result = 'approved' AND kind = 'txn'
GROUP BY day, service_item, scenario, cred_type
)sql";

struct GatewayStatus::Reader {
  sqlite::Database db;
  sqlite::Statement depth;
};

GatewayStatus::GatewayStatus(Deps deps) : d_(std::move(deps)), started_ms_(d_.clock.wall_ms()) {}

GatewayStatus::~GatewayStatus() = default;

status::StatusSnapshot GatewayStatus::status() const {
  status::StatusSnapshot s;
  s.gateway_id = d_.gateway_id;
  s.site = d_.site;
  s.version = std::string(kVersion);
  s.now_ms = d_.clock.wall_ms();
  s.started_ms = started_ms_;
  s.broker_connected = d_.link.connected();
  const IngestStats in = d_.dispatcher.stats();
  s.auth_requests = in.auth_requests;
  s.approved = in.approved;
  s.declined = in.declined;
  for (std::size_t i = 0; i < kReasonCount; ++i) {
    const auto r = static_cast<Reason>(i);
    if (r != Reason::ok && in.auth_by_reason[i] > 0)
      s.declined_by_reason[std::string(reason_code(r))] = in.auth_by_reason[i];
  }
  s.txn_received = in.txn_received;
  s.txn_stored = in.txn_stored;
  s.txn_duplicate = in.txn_duplicate;
  s.txn_rejected = in.txn_rejected;
  s.txn_batches = in.txn_batches;
  s.dropped = in.dropped_queue_full + in.dropped_stopping;
  s.auth_latency = d_.dispatcher.auth_latency();
  const PolicyAuthorizer::Stats es = d_.engine.stats();
  s.engine = status::EngineView{es.decisions,        es.approved,          es.declined,
                                es.online_asked,     es.online_answered,   es.online_timeout,
                                es.online_link_down, es.online_error,      es.offline_decided,
                                es.pool_busy,        es.attendance_stored, es.attendance_failed};
  s.engine.attendance_refused_quota = es.attendance_refused_quota;
  const StoreStats st = d_.store.stats();
  s.store_queued = st.queued;
  s.store_commits = st.commits;
  s.store_writable = !st.last_commit_failed;
  s.over_quota = d_.quota.over_quota();
  const auto cl = d_.cardlist.status(s.now_ms);
  s.cardlist = status::CardListView{cl.version, cl.age_ms, cl.stale, cl.entries, cl.feed_id};
  const auto& terminals = d_.dispatcher.terminals();
  const auto snap = terminals.snapshot();
  s.terminals = snap.size();
  s.terminals_online = static_cast<std::size_t>(std::count_if(
      snap.begin(), snap.end(), [](const auto& t) { return t.state == TerminalState::online; }));
  for (const auto& d : d_.forwarder.stats()) {
    status::LinkView l;
    l.destination = d.destination;
    l.state = std::string(outbox::to_string(d.state));
    l.connected = d.destination == "district" ? d_.district.up()
                                              : d.state == outbox::DestinationState::idle ||
                                                    d.state == outbox::DestinationState::sending;
    l.backlog = d.backlog;
    l.in_flight = d.in_flight;
    l.lag_ms = d.lag_ms;
    l.last_ack_ms = d.last_ack_ms;
    l.dead_letters = d.dead_letters;
    l.batches_delivered = d.batches_delivered;
    l.records_delivered = d.records_delivered;
    l.retries = d.retries;
    l.batches_rejected = d.batches_rejected;
    l.last_error = d.last_error;
    if (d.dead_letters > 0) {
      s.alarms.push_back({"dead_letters", std::to_string(d.dead_letters) +
                                              " rejected batches for " + d.destination});
    }
    if (d.state == outbox::DestinationState::no_link && d.backlog > 0) {
      s.alarms.push_back({"no_link", std::to_string(d.backlog) + " records routed to " +
                                         d.destination + " but no link is configured"});
    } else if (!l.connected && d.state != outbox::DestinationState::no_link) {
      s.alarms.push_back({"upstream_down", d.destination + " link is not answering"});
    }
    s.links.push_back(std::move(l));
  }
  if (!s.broker_connected) s.alarms.push_back({"broker_down", "MQTT broker not connected"});
  if (s.over_quota)
    s.alarms.push_back({"disk_quota", "disk quota reached: no new record is acked or written"});
  if (!s.store_writable)
    s.alarms.push_back({"store_failed", "the last commit to records.db failed"});
  if (s.cardlist.stale) s.alarms.push_back({"cardlist_stale", "card list older than allowed"});
  return s;
}

std::vector<status::TerminalView> GatewayStatus::terminals() const {
  const auto policies = d_.policies.current();
  std::vector<status::TerminalView> out;
  for (auto& t : d_.dispatcher.terminals().snapshot()) {
    status::TerminalView v;
    if (policies) {
      if (const auto* sc = policies->for_terminal(t.terminal)) v.scenario = sc->common.name;
    }
    v.info = std::move(t);
    out.push_back(std::move(v));
  }
  return out;
}

Result<std::vector<status::DeadLetterView>> GatewayStatus::dead_letters() const {
  auto letters = outbox::list_dead_letters(d_.outbox_db, /*include_resolved=*/false);
  if (!letters) return letters.error();
  std::vector<status::DeadLetterView> out;
  for (const auto& l : *letters) {
    out.push_back(status::DeadLetterView{l.id, l.batch_id, l.destination, l.count, l.reason,
                                         std::string(outbox::to_string(l.state)), l.created_ms,
                                         l.updated_ms, l.retries});
  }
  return out;
}

Result<std::vector<status::DepthCount>> GatewayStatus::depth_counts(UtcMillis from_ms) const {
  std::lock_guard lock(reader_mu_);
  if (!reader_) {
    auto db = sqlite::Database::open(d_.records_db, /*create=*/false, /*read_only=*/true);
    if (!db) return db.error();
    auto st = db->prepare(kDepthSql);
    if (!st) return st.error();
    reader_ = std::make_unique<Reader>(Reader{std::move(db.value()), std::move(st.value())});
  }
  const auto& st = reader_->depth;
  st.reset();
  st.bind(1, from_ms);
  std::vector<status::DepthCount> out;
  int rc = 0;
  while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
    status::DepthCount c;
    c.day = sqlite3_column_int64(st.get(), 0);
    c.service_item = sqlite3_column_int(st.get(), 1);
    c.scenario = st.column_text(2);
    c.type = credential_type_from(st.column_text(3)).value_or(CredentialType::other);
    c.count = static_cast<std::uint64_t>(sqlite3_column_int64(st.get(), 4));
    out.push_back(std::move(c));
  }
  if (rc != SQLITE_DONE) {
    const std::string err = reader_->db.last_error();
    reader_.reset();  // reopen next time
    return make_error("store", "depth query failed: " + err);
  }
  st.reset();
  return out;
}

std::vector<status::DepthTarget> GatewayStatus::depth_targets() const {
  std::vector<status::DepthTarget> out;
  if (!d_.catalog) return out;
  for (const auto& item : d_.catalog->items()) {
    // Support items (保障类) are listed too, without targets, so the table is the whole annex.
    status::DepthTarget t;
    t.item = item.number;
    t.name = item.name;
    t.department = item.department;
    t.note = item.depth_note;
    for (auto u : item.use_classes) {
      t.use_classes.push_back(u == UseClass::identity       ? "identity"
                              : u == UseClass::disbursement ? "disbursement"
                                                            : "payment");
    }
    for (std::size_t i = 0; i < 4; ++i) {
      t.level[i] = static_cast<int>(item.depth[i]);
      // An item may serve several uses; a share target exists when any of them is identity or
      // disbursement (payment levels are not shares).
      for (auto u : item.use_classes)
        t.percent[i] = std::max(t.percent[i], depth_share_percent(u, item.depth[i]));
    }
    out.push_back(std::move(t));
  }
  return out;
}

std::map<std::string, int> GatewayStatus::scenario_items() const {
  std::map<std::string, int> out;
  const auto policies = d_.policies.current();
  if (!policies) return out;
  for (const auto& s : policies->scenarios()) out[s->common.name] = s->common.service_item;
  return out;
}

status::Readiness GatewayStatus::readiness() const {
  status::Readiness r;
  r.broker_connected = d_.link.serving();
  r.store_writable = !d_.store.stats().last_commit_failed && !d_.quota.over_quota();
  if (!r.broker_connected) r.detail = "MQTT broker not connected or subscriptions not granted";
  if (!r.store_writable) {
    if (!r.detail.empty()) r.detail += "; ";
    r.detail += d_.quota.over_quota() ? "disk quota reached" : "last commit to records.db failed";
  }
  return r;
}

}  // namespace yktgw
