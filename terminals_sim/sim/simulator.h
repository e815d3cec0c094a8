#pragma once
// The load generator: N simulated terminals, each on its own MQTT v5 connection, sending auth
// requests open-loop at a fixed total rate, reporting a transaction record for each decision
// and holding every record until the gateway acks it.

#include <atomic>
#include <cstdint>
#include <iosfwd>
#include <string>

#include "gateway/core/result.h"
#include "terminals_sim/sim/population.h"
#include "terminals_sim/sim/run_stats.h"

namespace yktgw::sim {

struct RunOptions {
  std::string broker;  // tcp://host:port
  std::string site;
  int terminals = 1;
  double rate = 10;        // auth requests per second, all terminals together
  double duration_s = 10;  // length of the load phase
  std::uint64_t seed = 42;
  std::size_t cards = 1000;
  std::string scenario = "canteen";
  // "{terminal}" in either is replaced by the terminal id, for brokers with per-terminal
  // credentials and ACLs.
  std::string username;
  std::string password;
  int resend_ms = 5000;
  double drain_s = 10;
  double txn_ratio = 1.0;
  // First txn sequence number per terminal; raise it to run again against a gateway that
  // kept its store, so that new records are not acked as duplicates.
  std::uint64_t txn_seq_start = 1;
  bool quiet = false;
};

// Checks what the command line cannot: ids usable in topics, sane ranges.
Result<void> validate(const RunOptions& options);

// The terminal id of the terminal with 0-based `index`: sim-0001, sim-0002, ...
std::string terminal_id(std::size_t index);

// Connects every terminal, runs the load and the drain, disconnects. Progress lines go to
// `progress` once a second unless options.quiet. The first increment of `stop` ends the load
// phase early, the second also ends the drain. An Error when the terminals cannot connect.
Result<RunStats> run_simulation(const RunOptions& options, const Population& cards,
                                std::ostream& progress, const std::atomic<int>& stop);

}  // namespace yktgw::sim
