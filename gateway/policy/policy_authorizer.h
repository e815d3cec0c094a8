#pragma once
// The decision engine behind the Authorizer interface. For each tap:
//   1. the terminal's scenario (unknown_terminal, scenario_mismatch)
//   2. the credential, by the decoder for its type; expensive decoders (SM2 for QR codes) run
//      on the crypto pool, never on the caller's thread
//   3. the card list: lost, frozen and cancelled cards are declined in every scenario, before
//      anything else is asked; list attributes are OR-ed with the credential's
//   4. the scenario policy's own rules (eligibility, price, discount, daily caps)
//   5. the platform, where the scenario asks for it and the district link is up; its answer
//      decides (mode online)
//   6. otherwise, or when the platform does not answer within the deadline, the offline rules
//      (mode offline): unknown cards, the stale-list limit, the kind's offline limits; scenarios
//      that are online only decline online_required
// Every answer says the rule that decided it. See docs/policies.md.
// An approval by the clock-in rule (gate.clock_in) is also handed to the record store as an
// attendance record (policy/attendance.h): enqueued, never waited for. The record obeys the
// store's rules like any other: at the disk quota it is not written (counted as
// attendance_refused_quota), while the gate is still answered by the policy.
//
// Lifetime: pending decisions hold `this`. Stop the crypto pool and the online client (so no
// callback is pending) before destroying the engine.

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>

#include "gateway/core/worker_pool.h"
#include "gateway/interfaces/authorizer.h"
#include "gateway/interfaces/card_list.h"
#include "gateway/interfaces/clock.h"
#include "gateway/interfaces/credential_decoder.h"
#include "gateway/interfaces/district_link.h"
#include "gateway/interfaces/record_store.h"
#include "gateway/policy/counter_store.h"
#include "gateway/policy/policies.h"

namespace spdlog {
class logger;
}

namespace yktgw {

class PolicyAuthorizer final : public Authorizer {
 public:
  using Decoders = std::map<CredentialType, const CredentialDecoder*>;

  struct Deps {
    const PolicyFile& policies;
    Decoders decoders;  // a type without a decoder is declined credential_not_supported
    const CardList& card_list;
    CounterStore& counters;
    const LinkHealth& link;
    OnlineAuthClient& online;
    WorkerPool& crypto_pool;
    const Clock& clock;
    std::shared_ptr<spdlog::logger> log;  // may be null
    // Where clock-ins are recorded as attendance; null: they are not recorded.
    RecordStore* attendance = nullptr;
  };

  struct Options {
    // Config cardlist.max_age_s in ms, the same the card list's status uses: the list is stale
    // when not known current for longer (CardList::age); 0: only a list that never arrived.
    std::int64_t cardlist_max_age_ms = 0;
  };

  struct Stats {
    std::uint64_t decisions = 0;
    std::uint64_t approved = 0;
    std::uint64_t declined = 0;
    std::uint64_t online_asked = 0;
    std::uint64_t online_answered = 0;
    std::uint64_t online_timeout = 0;
    std::uint64_t online_link_down = 0;
    std::uint64_t online_error = 0;
    std::uint64_t offline_decided = 0;  // reached the offline rules
    std::uint64_t pool_busy = 0;
    std::uint64_t attendance_stored = 0;  // clock-ins committed to the record store
    std::uint64_t attendance_failed = 0;  // refused by the store's queue or failed to commit
    // Not written because the disk quota was reached (StoreOutcome::over_quota).
    std::uint64_t attendance_refused_quota = 0;
  };

  PolicyAuthorizer(Deps deps, Options options);

  void authorize(const AuthRequest& request, const TapContext& ctx, Done done) const override;

  bool card_list_stale(UtcMillis now_ms) const;
  Stats stats() const;

 private:
  struct Job;
  void after_decode(std::shared_ptr<Job> owner, Job& job, DecodedCredential decoded) const;
  void ask_platform(const std::shared_ptr<Job>& job) const;
  void on_platform(Job& job, OnlineOutcome outcome, const OnlineAuthReply& reply) const;
  Verdict offline(Job& job) const;
  void finish(Job& job, const Verdict& verdict) const;
  void record_attendance(const Job& job) const;

  const PolicyFile& policies_;
  std::array<const CredentialDecoder*, 4> decoders_{};
  const CardList& card_list_;
  CounterStore& counters_;
  const LinkHealth& link_;
  OnlineAuthClient& online_;
  WorkerPool& pool_;
  const Clock& clock_;
  std::shared_ptr<spdlog::logger> log_;
  const Options options_;
  RecordStore* attendance_;

  struct Counters {
    std::atomic<std::uint64_t> decisions{0};
    std::atomic<std::uint64_t> approved{0};
    std::atomic<std::uint64_t> declined{0};
    std::atomic<std::uint64_t> online_asked{0};
    std::atomic<std::uint64_t> online_answered{0};
    std::atomic<std::uint64_t> online_timeout{0};
    std::atomic<std::uint64_t> online_link_down{0};
    std::atomic<std::uint64_t> online_error{0};
    std::atomic<std::uint64_t> offline_decided{0};
    std::atomic<std::uint64_t> pool_busy{0};
    std::atomic<std::int64_t> last_warn_ms{0};
  };
  mutable Counters counters_stats_;
  // Updated by the store's completions on its writer thread, which may run after the engine
  // is gone (the store flushes when it closes): shared, not part of the engine.
  struct AttendanceCounters {
    std::atomic<std::uint64_t> stored{0};
    std::atomic<std::uint64_t> failed{0};
    std::atomic<std::uint64_t> refused_quota{0};
    std::atomic<std::int64_t> last_warn_ms{0};
    std::atomic<std::int64_t> last_quota_warn_ms{0};
  };
  std::shared_ptr<AttendanceCounters> attendance_stats_ = std::make_shared<AttendanceCounters>();
};

}  // namespace yktgw
