#include "gateway/policy/policy_authorizer.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "gateway/policy/attendance.h"

namespace yktgw {
namespace {

constexpr std::int64_t kWarnIntervalMs = 10'000;

void inc(std::atomic<std::uint64_t>& c) { c.fetch_add(1, std::memory_order_relaxed); }

// True for at most one caller per kWarnIntervalMs of `last_ms`: rate-limits a warning that
// terminals or the network can trigger, from any thread.
bool warn_due(std::atomic<std::int64_t>& last_ms, std::int64_t now_ms) {
  std::int64_t last = last_ms.load(std::memory_order_relaxed);
  return now_ms - last >= kWarnIntervalMs && last_ms.compare_exchange_strong(last, now_ms);
}

Reason deny_reason(CardStatus s) {
  switch (s) {
    case CardStatus::lost:
      return Reason::card_lost;
    case CardStatus::frozen:
      return Reason::card_frozen;
    case CardStatus::cancelled:
      return Reason::card_cancelled;
    case CardStatus::active:
      break;
  }
  return Reason::ok;
}

// A platform decline names its reason with a protocol code; one the gateway does not know, or
// one that makes no sense as a decline, is shown as the generic one.
Reason platform_reason(const std::string& code) {
  const auto r = reason_from_code(code);
  if (!r || *r == Reason::ok || is_input_error(*r)) return Reason::declined_by_platform;
  return *r;
}

}  // namespace

// One decision in progress. Lives on the caller's stack while the decision stays on its thread;
// moved to the heap when it must wait for the crypto pool or the platform.
struct PolicyAuthorizer::Job {
  std::shared_ptr<const ScenarioPolicies> policies;  // keeps `scenario` valid across a reload
  const ScenarioPolicies::Scenario* scenario = nullptr;
  AuthResponse response;
  std::string site;
  std::string terminal;
  UtcMillis ts_ms = 0;
  Fen requested = 0;
  CredentialType type = CredentialType::card;
  UtcMillis now_ms = 0;
  std::int64_t steady_ms = 0;  // the monotonic clock at the same moment
  LocalTime local;
  Holder holder;
  HolderAttributes attributes = 0;
  bool on_list = false;
  Verdict assessed;
  Done done;

  Tap tap() const { return Tap{holder, attributes, on_list, requested, now_ms, local}; }
};

PolicyAuthorizer::PolicyAuthorizer(Deps deps, Options options)
    : policies_(deps.policies),
      card_list_(deps.card_list),
      counters_(deps.counters),
      link_(deps.link),
      online_(deps.online),
      pool_(deps.crypto_pool),
      clock_(deps.clock),
      log_(std::move(deps.log)),
      options_(options),
      attendance_(deps.attendance) {
  for (const auto& [type, decoder] : deps.decoders) {
    const auto i = static_cast<std::size_t>(type);
    if (i < decoders_.size()) decoders_[i] = decoder;
  }
}

bool PolicyAuthorizer::card_list_stale(UtcMillis now_ms) const {
  return card_list_.age(now_ms, options_.cardlist_max_age_ms).stale;
}

void PolicyAuthorizer::authorize(const AuthRequest& request, const TapContext& ctx,
                                 Done done) const {
  Job job;
  job.now_ms = clock_.wall_ms();
  job.steady_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.steady().time_since_epoch())
          .count();
  job.done = std::move(done);
  job.response.req_id = request.req_id;
  job.response.mode = AuthMode::offline;
  job.requested = request.amount_fen;
  job.ts_ms = request.ts_ms;
  job.type = request.credential.type;
  job.site = ctx.site;
  job.terminal = ctx.terminal.empty() ? std::string_view(request.terminal) : ctx.terminal;
  job.policies = policies_.current();

  job.scenario = job.policies ? job.policies->for_terminal(job.terminal) : nullptr;
  if (job.scenario == nullptr) {
    return finish(job, decline(Reason::unknown_terminal, "terminal.unassigned", job.requested));
  }
  const ScenarioCommon& common = job.scenario->common;
  job.response.service_item = common.service_item;
  if (request.scenario != common.name) {
    return finish(job,
                  decline(Reason::scenario_mismatch, "terminal.scenario_mismatch", job.requested));
  }
  const auto type_index = static_cast<std::size_t>(request.credential.type);
  const CredentialDecoder* decoder =
      type_index < decoders_.size() ? decoders_[type_index] : nullptr;
  if (decoder == nullptr) {
    return finish(
        job, decline(Reason::credential_not_supported, "credential.not_supported", job.requested));
  }
  if (!decoder->expensive()) {
    const DecodeContext dctx{job.terminal, job.now_ms, ctx.mac_input, common.require_mac,
                             job.steady_ms};
    DecodedCredential decoded = decoder->decode(request.credential, dctx);
    return after_decode(nullptr, job, std::move(decoded));
  }
  // The request and the context belong to the caller: take copies of what decoding needs.
  auto owner = std::make_shared<Job>(std::move(job));
  auto task = [this, owner, decoder, credential = request.credential,
               mac_input = std::string(ctx.mac_input)]() mutable {
    const DecodeContext dctx{owner->terminal, owner->now_ms, mac_input,
                             owner->scenario->common.require_mac, owner->steady_ms};
    DecodedCredential decoded = decoder->decode(credential, dctx);
    // A chip number in the copy has served its purpose (see Credential::card_no).
    std::fill(credential.card_no.begin(), credential.card_no.end(), '\0');
    Job& j = *owner;
    after_decode(std::move(owner), j, std::move(decoded));
  };
  if (!pool_.post(std::move(task))) {
    inc(counters_stats_.pool_busy);
    finish(*owner, decline(Reason::busy, "engine.busy", owner->requested));
  }
}

void PolicyAuthorizer::after_decode(std::shared_ptr<Job> owner, Job& job,
                                    DecodedCredential decoded) const {
  job.response.card_masked = std::move(decoded.holder.masked);
  if (decoded.reason != Reason::ok) {
    return finish(job, decline(decoded.reason, "credential.check", job.requested));
  }
  if (job.type == CredentialType::other) {
    // Cash and other means are recorded for the statistics, not decided by the card rules.
    return finish(job, Verdict{Reason::ok, "other.not_checked", job.requested, job.requested});
  }
  job.holder = std::move(decoded.holder);
  const std::optional<CardEntry> entry = card_list_.find(job.holder.token);
  if (entry && entry->status != CardStatus::active) {
    return finish(job, decline(deny_reason(entry->status), "cardlist.deny", job.requested));
  }
  job.on_list = entry.has_value();
  job.attributes = job.holder.attributes | (entry ? entry->attributes : 0);
  job.local = shanghai_time(job.now_ms);

  const ScenarioPolicies::Scenario& scenario = *job.scenario;
  const Verdict assessed = scenario.policy->assess(job.tap(), counters_);
  if (!assessed.approved()) return finish(job, assessed);
  job.assessed = assessed;

  const ScenarioCommon& common = scenario.common;
  if (common.online != OnlineMode::never && link_.up()) {
    if (!owner) owner = std::make_shared<Job>(std::move(job));
    return ask_platform(owner);
  }
  if (common.online == OnlineMode::required) {
    inc(counters_stats_.online_link_down);
    return finish(job,
                  decline(Reason::online_required, "online.required", assessed.amount_before_fen));
  }
  finish(job, offline(job));
}

void PolicyAuthorizer::ask_platform(const std::shared_ptr<Job>& job) const {
  inc(counters_stats_.online_asked);
  const ScenarioCommon& common = job->scenario->common;
  OnlineAuthRequest r;
  r.req_id = job->response.req_id;
  r.site = job->site;
  r.terminal = job->terminal;
  r.scenario = common.name;
  r.service_item = common.service_item;
  r.card_token = job->holder.token;
  r.region = job->holder.region;
  r.credential_type = job->type;
  r.amount_fen = job->assessed.amount_fen;
  r.ts_ms = job->ts_ms;
  online_.authorize(std::move(r), common.online_deadline,
                    [this, job](OnlineOutcome outcome, const OnlineAuthReply& reply) {
                      on_platform(*job, outcome, reply);
                    });
}

void PolicyAuthorizer::on_platform(Job& job, OnlineOutcome outcome,
                                   const OnlineAuthReply& reply) const {
  const ScenarioPolicy& policy = *job.scenario->policy;
  if (outcome == OnlineOutcome::answered) {
    inc(counters_stats_.online_answered);
    job.response.mode = AuthMode::online;
    Verdict v;
    if (reply.decision == Decision::approve) {
      v = job.assessed;
      // The platform may charge less (its own subsidy), never more than the gateway asked.
      v.amount_fen = std::clamp<Fen>(reply.amount_fen, 0, job.assessed.amount_fen);
    } else {
      v = decline(platform_reason(reply.reason), "platform.declined",
                  job.assessed.amount_before_fen);
    }
    policy.settle_online(job.tap(), v, counters_);
    return finish(job, v);
  }
  switch (outcome) {
    case OnlineOutcome::timeout:
      inc(counters_stats_.online_timeout);
      break;
    case OnlineOutcome::link_down:
      inc(counters_stats_.online_link_down);
      break;
    default:
      inc(counters_stats_.online_error);
      break;
  }
  if (log_) {
    // Anything the network does is remote-triggered: at most one line per interval.
    if (warn_due(counters_stats_.last_warn_ms, job.now_ms)) {
      log_->warn(
          "online authorization failed outcome={} scenario={} timeouts={} link_down={} "
          "errors={}; deciding offline where the scenario allows",
          outcome == OnlineOutcome::timeout     ? "timeout"
          : outcome == OnlineOutcome::link_down ? "link_down"
                                                : "error",
          job.scenario->common.name, counters_stats_.online_timeout.load(),
          counters_stats_.online_link_down.load(), counters_stats_.online_error.load());
    }
  }
  if (job.scenario->common.online == OnlineMode::required) {
    return finish(
        job, decline(Reason::online_required, "online.required", job.assessed.amount_before_fen));
  }
  finish(job, offline(job));
}

Verdict PolicyAuthorizer::offline(Job& job) const {
  inc(counters_stats_.offline_decided);
  const ScenarioCommon& common = job.scenario->common;
  const Verdict& assessed = job.assessed;
  if (!job.on_list) {
    const auto& regions = common.unknown_card_regions_allowed;
    const bool allowed =
        common.unknown_card == UnknownCardRule::allow ||
        std::find(regions.begin(), regions.end(), job.holder.region) != regions.end();
    if (!allowed)
      return decline(Reason::unknown_card, "cardlist.unknown", assessed.amount_before_fen);
  }
  if (common.stale_offline_limit_fen >= 0 && assessed.amount_fen > common.stale_offline_limit_fen &&
      card_list_stale(job.now_ms)) {
    return decline(Reason::card_list_stale, "cardlist.stale", assessed.amount_before_fen);
  }
  return job.scenario->policy->settle_offline(job.tap(), assessed, counters_);
}

void PolicyAuthorizer::finish(Job& job, const Verdict& verdict) const {
  AuthResponse& r = job.response;
  r.reason = verdict.reason;
  r.decision = verdict.approved() ? Decision::approve : Decision::decline;
  r.rule = verdict.rule;
  r.amount_before_fen = verdict.amount_before_fen;
  r.amount_fen = verdict.approved() ? verdict.amount_fen : 0;
  inc(counters_stats_.decisions);
  inc(verdict.approved() ? counters_stats_.approved : counters_stats_.declined);
  if (attendance_ != nullptr && verdict.approved() && verdict.rule == kClockInRule) {
    record_attendance(job);
  }
  Done done = std::move(job.done);
  done(std::move(r));
}

void PolicyAuthorizer::record_attendance(const Job& job) const {
  const ClockIn c{job.site,
                  job.terminal,
                  job.scenario->common.name,
                  job.scenario->common.service_item,
                  job.response.req_id,
                  job.ts_ms,
                  job.now_ms,
                  job.response.mode,
                  job.type,
                  job.holder.token,
                  job.response.card_masked,
                  job.holder.region};
  auto stats = attendance_stats_;
  auto on_stored = [stats, log = log_, now = job.now_ms, terminal = std::string(job.terminal),
                    req_id = job.response.req_id,
                    masked = job.response.card_masked](StoreOutcome outcome) {
    if (outcome == StoreOutcome::stored || outcome == StoreOutcome::duplicate) {
      // A duplicate is the same clock-in sent again: it is stored already.
      if (outcome == StoreOutcome::stored) inc(stats->stored);
      return;
    }
    if (outcome == StoreOutcome::over_quota) {
      // The quota is one rule for every record the gateway writes: this one is not written.
      // The gate was answered already; only the masked number may go to the log.
      inc(stats->refused_quota);
      if (log && warn_due(stats->last_quota_warn_ms, now)) {
        log->warn(
            "attendance record not written: disk quota reached terminal={} req_id={} card={} "
            "refused_quota={}; the clock-in was answered, the terminal's own record of the tap "
            "waits for room",
            terminal, req_id, masked, stats->refused_quota.load());
      }
      return;
    }
    inc(stats->failed);
    if (log && warn_due(stats->last_warn_ms, now)) {
      log->warn(
          "attendance record not stored terminal={} failed={}; the terminal's own record "
          "of the tap remains",
          terminal, stats->failed.load());
    }
  };
  // The writer commits it with the next group; the answer to the terminal does not wait.
  if (!attendance_->submit(attendance_record(c), on_stored)) on_stored(StoreOutcome::failed);
}

PolicyAuthorizer::Stats PolicyAuthorizer::stats() const {
  auto get = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  const Counters& c = counters_stats_;
  return Stats{get(c.decisions),
               get(c.approved),
               get(c.declined),
               get(c.online_asked),
               get(c.online_answered),
               get(c.online_timeout),
               get(c.online_link_down),
               get(c.online_error),
               get(c.offline_decided),
               get(c.pool_busy),
               get(attendance_stats_->stored),
               get(attendance_stats_->failed),
               get(attendance_stats_->refused_quota)};
}

}  // namespace yktgw
