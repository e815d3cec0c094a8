#include "gateway/status/api_json.h"

#include <cmath>
#include <nlohmann/json.hpp>

namespace yktgw::status {
namespace {

using nlohmann::ordered_json;

ordered_json link_json(const LinkView& l) {
  return ordered_json{{"destination", l.destination},
                      {"state", l.state},
                      {"connected", l.connected},
                      {"backlog", l.backlog},
                      {"in_flight", l.in_flight},
                      {"lag_ms", l.lag_ms},
                      {"last_ack_ms", l.last_ack_ms},
                      {"dead_letters", l.dead_letters},
                      {"batches_delivered", l.batches_delivered},
                      {"records_delivered", l.records_delivered},
                      {"retries", l.retries},
                      {"batches_rejected", l.batches_rejected},
                      {"last_error", l.last_error}};
}

ordered_json counts_json(const KindCounts& c) {
  ordered_json j{{"card", c.card},
                 {"ecard_qr", c.ecard_qr},
                 {"ykm_qr", c.ykm_qr},
                 {"other", c.other},
                 {"total", c.total()}};
  if (auto share = c.card_share_percent()) {
    j["card_share_percent"] = std::round(*share * 10.0) / 10.0;
    j["level_reached"] = level_reached(*share);
  } else {
    j["card_share_percent"] = nullptr;
    j["level_reached"] = nullptr;
  }
  return j;
}

// Three decimals (microseconds for latencies): no float noise in the JSON.
double round3(double v) { return std::round(v * 1000.0) / 1000.0; }

std::string date_of(std::int64_t day) { return format_date(civil_from_days(day)); }

}  // namespace

std::string status_json(const StatusSnapshot& s) {
  ordered_json j;
  j["gateway"] = {{"id", s.gateway_id},         {"site", s.site},
                  {"version", s.version},       {"now_ms", s.now_ms},
                  {"started_ms", s.started_ms}, {"uptime_s", (s.now_ms - s.started_ms) / 1000}};
  j["broker"] = {{"connected", s.broker_connected}};
  j["links"] = ordered_json::array();
  for (const auto& l : s.links) j["links"].push_back(link_json(l));
  j["cardlist"] = {{"version", s.cardlist.version},
                   {"age_ms", s.cardlist.age_ms},
                   {"stale", s.cardlist.stale},
                   {"entries", s.cardlist.entries},
                   {"feed_id", s.cardlist.feed_id}};
  ordered_json reasons = ordered_json::object();
  for (const auto& [r, n] : s.declined_by_reason) reasons[r] = n;
  j["auth"] = {{"requests", s.auth_requests},
               {"approved", s.approved},
               {"declined", s.declined},
               {"declined_by_reason", reasons},
               {"latency_p50_ms", round3(latency_quantile_us(s.auth_latency, 0.5) / 1000.0)},
               {"latency_p99_ms", round3(latency_quantile_us(s.auth_latency, 0.99) / 1000.0)}};
  const EngineView& e = s.engine;
  j["engine"] = {{"decisions", e.decisions},
                 {"approved", e.approved},
                 {"declined", e.declined},
                 {"online",
                  {{"asked", e.online_asked},
                   {"answered", e.online_answered},
                   {"timeout", e.online_timeout},
                   {"link_down", e.online_link_down},
                   {"error", e.online_error}}},
                 {"offline_decided", e.offline_decided},
                 {"pool_busy", e.pool_busy},
                 {"attendance",
                  {{"stored", e.attendance_stored},
                   {"failed", e.attendance_failed},
                   {"refused_quota", e.attendance_refused_quota}}}};
  j["txn"] = {{"received", s.txn_received},   {"stored", s.txn_stored},
              {"duplicate", s.txn_duplicate}, {"rejected", s.txn_rejected},
              {"batches", s.txn_batches},     {"dropped_messages", s.dropped}};
  j["store"] = {{"queued", s.store_queued},
                {"commits", s.store_commits},
                {"writable", s.store_writable},
                {"over_quota", s.over_quota}};
  j["terminals"] = {{"total", s.terminals},
                    {"online", s.terminals_online},
                    {"offline", s.terminals - s.terminals_online}};
  j["alarms"] = ordered_json::array();
  for (const auto& a : s.alarms) j["alarms"].push_back({{"code", a.code}, {"detail", a.detail}});
  return j.dump();
}

std::string terminals_json(const std::vector<TerminalView>& terminals, UtcMillis now_ms) {
  ordered_json j;
  j["now_ms"] = now_ms;
  std::size_t online = 0;
  ordered_json rows = ordered_json::array();
  for (const auto& t : terminals) {
    const bool on = t.info.state == TerminalState::online;
    online += on ? 1 : 0;
    rows.push_back({{"terminal", t.info.terminal},
                    {"state", on ? "online" : "offline"},
                    {"kind", t.info.kind},
                    {"scenario", t.scenario},
                    {"firmware", t.info.firmware},
                    {"cardlist_version", t.info.cardlist_version},
                    {"last_seen_ms", t.info.last_seen_ms},
                    {"messages", t.info.messages},
                    {"errors", t.info.errors}});
  }
  j["total"] = terminals.size();
  j["online"] = online;
  j["terminals"] = std::move(rows);
  return j.dump();
}

std::string outbox_json(const StatusSnapshot& s, const std::vector<DeadLetterView>& letters,
                        const std::string& dead_letter_error) {
  ordered_json j;
  j["now_ms"] = s.now_ms;
  j["destinations"] = ordered_json::array();
  for (const auto& l : s.links) j["destinations"].push_back(link_json(l));
  j["dead_letters"] = ordered_json::array();
  for (const auto& d : letters) {
    j["dead_letters"].push_back({{"id", d.id},
                                 {"batch_id", d.batch_id},
                                 {"destination", d.destination},
                                 {"records", d.count},
                                 {"reason", d.reason},
                                 {"state", d.state},
                                 {"created_ms", d.created_ms},
                                 {"updated_ms", d.updated_ms},
                                 {"retries", d.retries}});
  }
  if (!dead_letter_error.empty()) j["dead_letters_error"] = dead_letter_error;
  return j.dump();
}

std::string depth_json(const DepthReport& r, UtcMillis generated_ms) {
  ordered_json j;
  const CivilDate d = civil_from_days(r.day);
  j["generated_ms"] = generated_ms;
  j["timezone"] = "Asia/Shanghai";
  j["counted"] = "approved transactions";
  j["card_means"] = {"card", "ecard_qr"};
  j["date"] = format_date(d);
  j["month"] = format_month(d);
  j["target"] = {{"index", r.target_index},
                 {"label", target_label(r.target_index)},
                 {"tiers_percent", {50, 70, 90}}};
  j["all"] = {{"day", counts_json(r.all_day)}, {"month", counts_json(r.all_month)}};
  j["items"] = ordered_json::array();
  for (const auto& it : r.items) {
    const auto& t = it.target;
    const int level = t.level[static_cast<std::size_t>(r.target_index)];
    const int percent = t.percent[static_cast<std::size_t>(r.target_index)];
    ordered_json row{{"item", t.item},
                     {"name", t.name},
                     {"department", t.department},
                     {"use_classes", t.use_classes},
                     {"target_level", level},
                     {"target_percent", percent > 0 ? ordered_json(percent) : ordered_json()},
                     {"note", t.note},
                     {"day", counts_json(it.day)},
                     {"month", counts_json(it.month)}};
    for (const char* period : {"day", "month"}) {
      const auto& share = row[period]["card_share_percent"];
      row[period]["meets_target"] = percent > 0 && !share.is_null()
                                        ? ordered_json(share.get<double>() >= percent)
                                        : ordered_json();
    }
    j["items"].push_back(std::move(row));
  }
  j["unmapped"] = {{"day", counts_json(r.unmapped_day)}, {"month", counts_json(r.unmapped_month)}};
  j["scenarios"] = ordered_json::array();
  for (const auto& s : r.scenarios) {
    j["scenarios"].push_back({{"scenario", s.scenario},
                              {"item", s.item},
                              {"day", counts_json(s.day)},
                              {"month", counts_json(s.month)}});
  }
  j["days"] = ordered_json::array();
  for (const auto& day : r.days)
    j["days"].push_back({{"date", date_of(day.day)}, {"counts", counts_json(day.counts)}});
  return j.dump();
}

std::string series_json(const std::vector<SeriesSample>& samples) {
  ordered_json j;
  j["samples"] = ordered_json::array();
  for (const auto& s : samples) {
    ordered_json reasons = ordered_json::object();
    for (const auto& [r, v] : s.declined_per_s_by_reason) reasons[r] = round3(v);
    ordered_json backlog = ordered_json::object();
    for (const auto& [d, v] : s.outbox_backlog) backlog[d] = v;
    j["samples"].push_back({{"t_ms", s.t_ms},
                            {"approved_per_s", round3(s.approved_per_s)},
                            {"declined_per_s", round3(s.declined_per_s)},
                            {"declined_per_s_by_reason", reasons},
                            {"latency_p50_ms", round3(s.latency_p50_ms)},
                            {"latency_p99_ms", round3(s.latency_p99_ms)},
                            {"txn_per_s", round3(s.txn_per_s)},
                            {"outbox_backlog", backlog}});
  }
  return j.dump();
}

}  // namespace yktgw::status
