#pragma once
// The simulated terminals: each on its own MQTT v5 connection, sending auth requests open-loop
// at a total rate that follows a rate profile, reporting a transaction record for each decision
// and holding every record until the gateway acks it. Terminals of a mix serve the scenarios of
// the policies file (canteen, gates, parking, bus, ...); every answer is checked against the
// expectation model (expectation.h). Buses can lose their link for a while, keep taking taps
// and upload the records when they are back; any terminal can drop its link at random.

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

  // demo: one readable line per tap; load: progress once a second; soak: a JSON summary every
  // summary_s seconds.
  std::string mode = "load";
  double summary_s = 60;
  // Terminal mix ("canteen:4,bus:2" or a preset, terminal_kinds.h); empty: `terminals`
  // terminals sim-0001... all of `scenario`.
  std::string mix;
  // The gateway's policies file: the expectation model reads it. Empty: decisions are checked
  // against the card's status only (single-scenario runs of kinds that decide on status).
  std::string policies;
  // QR codes: the district HMAC key and the issuers' private key directories. Without them
  // every holder presents a physical card.
  std::string hmac_key_file;
  std::string ecard_key_dir;
  std::string ykm_key_dir;
  std::string profile = "steady";  // steady, meal, rush
  double profile_period_s = 0;     // one compressed day; 0: the run's duration
  double bus_outage_s = 0;         // mean length of a bus's link loss; 0: none
  double bus_outage_every_s = 60;  // mean time between a bus's link losses
  double disconnect_every_s = 0;   // mean time between random drops of any terminal; 0: none
  // Records a terminal holding several due at once (after a link loss) sends in one txn/batch
  // message (docs/terminal-protocol.md §8.1); 1: always one txn message a record.
  int bulk_records = 100;
};

// Checks what the command line cannot: ids usable in topics, sane ranges.
Result<void> validate(const RunOptions& options);

// The terminal id of the terminal with 0-based `index`: sim-0001, sim-0002, ...
std::string terminal_id(std::size_t index);

// Connects every terminal, runs the load and the drain, disconnects. Progress lines go to
// `progress` once a second unless options.quiet. The first increment of `stop` ends the load
// phase early, the second also ends the drain. An Error when the terminals cannot connect.
// Demo mode writes its tap lines to `taps` (stdout by default).
Result<RunStats> run_simulation(const RunOptions& options, const Population& cards,
                                std::ostream& progress, const std::atomic<int>& stop,
                                std::ostream* taps = nullptr);

// "sim:N canteen" for a single-scenario run, else the mix as "canteen:4,bus:2".
std::string describe_terminals(const RunOptions& options);

}  // namespace yktgw::sim
