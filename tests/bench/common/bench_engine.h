#pragma once
// The policy engine's surroundings in the in-process benchmarks, as the gateway runs them: fixed
// policies, the real counters with their write-behind thread and a state.db, a district link
// that is down (so "prefer" scenarios decide offline) and a crypto pool of one thread. The card
// list is the gateway's own (bench_card_list.h); the decoders are each bench's.

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "gateway/core/result.h"
#include "gateway/core/worker_pool.h"
#include "gateway/interfaces/card_list.h"
#include "gateway/interfaces/clock.h"
#include "gateway/policy/counter_store.h"
#include "gateway/policy/policies.h"
#include "gateway/policy/policy_authorizer.h"
#include "tests/bench/common/bench_fakes.h"
#include "tests/gateway/policy/engine_setup.h"

namespace yktgw::bench {

class EngineParts {
 public:
  // `policies_toml` parsed with the default groups; the counters in `dir`/state.db. The pool
  // queues up to `pool_capacity` tasks.
  static Result<std::unique_ptr<EngineParts>> open(const std::string& policies_toml,
                                                   const std::string& dir, const Clock& clock,
                                                   std::size_t pool_capacity) {
    auto policies = testing::fixed_policies(policies_toml, "bench-policies.toml");
    if (!policies) return policies.error();
    auto counters = CounterStore::open(
        CounterStore::Options{dir + "/state.db", std::chrono::milliseconds(5)}, clock, nullptr);
    if (!counters) return counters.error();
    return std::unique_ptr<EngineParts>(new EngineParts(
        std::move(policies.value()), std::move(counters.value()), clock, pool_capacity));
  }

  // An engine over `list` deciding with `decoders`. Engines made here share the counters and the
  // pool, and must be gone before these parts are.
  std::unique_ptr<PolicyAuthorizer> engine(PolicyAuthorizer::Decoders decoders,
                                           const CardList& list) {
    return std::make_unique<PolicyAuthorizer>(
        PolicyAuthorizer::Deps{*policies_, std::move(decoders), list, *counters_, link_, online_,
                               pool_, clock_, nullptr},
        PolicyAuthorizer::Options{24LL * 3600 * 1000});
  }

  CounterStore& counters() { return *counters_; }
  WorkerPool& pool() { return pool_; }

 private:
  EngineParts(std::unique_ptr<PolicyFile> policies, std::unique_ptr<CounterStore> counters,
              const Clock& clock, std::size_t pool_capacity)
      : clock_(clock),
        policies_(std::move(policies)),
        counters_(std::move(counters)),
        pool_(1, pool_capacity) {}

  const Clock& clock_;
  std::unique_ptr<PolicyFile> policies_;
  std::unique_ptr<CounterStore> counters_;
  NoLink link_;
  NoOnline online_;
  WorkerPool pool_;
};

}  // namespace yktgw::bench
