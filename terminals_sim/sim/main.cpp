// yktgw-sim: simulated card terminals for the yktgw gateway, and its load generator.
//   yktgw-sim demo --broker URI --site S --mix township --policies config/policies.toml [...]
//   yktgw-sim [run|load] --broker URI --site S --terminals N --rate R --duration SEC [...]
//   yktgw-sim soak --broker URI --site S --mix township --duration 14400 --summary-s 300 [...]
//   yktgw-sim population --seed 42 --cards 1000 --out FILE

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>

#include "gateway/core/version.h"
#include "terminals_sim/sim/population.h"
#include "terminals_sim/sim/run_stats.h"
#include "terminals_sim/sim/simulator.h"

namespace {

using yktgw::sim::RunOptions;

// Written by the signal handler, read by the run loop: first Ctrl-C ends the load, second ends
// the drain, and the summary is still printed.
std::atomic<int> g_stop_requests{0};

void on_signal(int) { g_stop_requests.fetch_add(1); }

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

// Registered on the top-level app too, so that `run` can be left out.
void add_run_options(CLI::App& app, RunOptions& o) {
  app.add_option("--broker", o.broker, "MQTT broker URI, e.g. tcp://127.0.0.1:1883");
  app.add_option("--site", o.site, "site id in the topics ykt/v1/{site}/...");
  app.add_option("--terminals", o.terminals, "number of simulated terminals (sim-0001 ...)")
      ->capture_default_str();
  app.add_option("--rate", o.rate, "auth requests per second, all terminals together")
      ->capture_default_str();
  app.add_option("--duration", o.duration_s, "seconds of load")->capture_default_str();
  app.add_option("--seed", o.seed, "seed of the card population and the request stream")
      ->capture_default_str();
  app.add_option("--cards", o.cards, "size of the card population")->capture_default_str();
  app.add_option("--scenario", o.scenario, "scenario of every request (canteen, bus, ...)")
      ->capture_default_str();
  app.add_option("--username", o.username, "MQTT user name; {terminal} becomes the terminal id");
  app.add_option("--password", o.password, "MQTT password; {terminal} becomes the terminal id");
  app.add_option("--resend-ms", o.resend_ms, "first resend of an unacked txn after this long")
      ->capture_default_str();
  app.add_option("--drain-s", o.drain_s, "after the load, wait this long for replies at most")
      ->capture_default_str();
  app.add_option("--txn-ratio", o.txn_ratio, "fraction of decisions that produce a txn record")
      ->capture_default_str();
  app.add_option("--txn-seq-start", o.txn_seq_start,
                 "first txn sequence number per terminal (raise it to rerun against a kept store)")
      ->capture_default_str();
  app.add_flag("--quiet", o.quiet, "no progress lines on stderr");
  app.add_option("--mix", o.mix,
                 "terminal mix, e.g. canteen:4,gate_campus:2,bus:3, or a preset: township, "
                 "campus, transit, tourism (replaces --terminals and --scenario)");
  app.add_option("--policies", o.policies,
                 "the gateway's policies file: expected decisions come from it");
  app.add_option("--hmac-key-file", o.hmac_key_file,
                 "district HMAC-SM3 key, for the card tokens in QR codes");
  app.add_option("--ecard-key-dir", o.ecard_key_dir,
                 "e-card issuer private keys <region>-<kid>.key.pem (ecard_qr)");
  app.add_option("--ykm-key-dir", o.ykm_key_dir,
                 "渝快码 issuer private keys <region>-<kid>.key.pem (ykm_qr)");
  app.add_option("--profile", o.profile,
                 "rate profile: steady, meal (lunch and dinner peaks), "
                 "rush (morning and evening peaks)")
      ->capture_default_str();
  app.add_option("--profile-period", o.profile_period_s,
                 "seconds of one compressed day of the profile; 0: the whole run")
      ->capture_default_str();
  app.add_option("--bus-outage-s", o.bus_outage_s,
                 "mean length of a bus's link loss in seconds (taps stored on board); 0: none")
      ->capture_default_str();
  app.add_option("--bus-outage-every-s", o.bus_outage_every_s,
                 "mean seconds between a bus's link losses")
      ->capture_default_str();
  app.add_option("--disconnect-every-s", o.disconnect_every_s,
                 "mean seconds between random link drops of any terminal; 0: none")
      ->capture_default_str();
  app.add_option("--bulk-records", o.bulk_records,
                 "records a terminal holding several sends in one txn/batch message; 1: none")
      ->capture_default_str();
  app.add_option("--summary-s", o.summary_s, "soak: seconds between summaries")
      ->capture_default_str();
}

int write_population(const RunOptions& o, const std::string& out_path) {
  const auto cards = yktgw::sim::generate_population(o.seed, o.cards);
  std::ofstream file;
  std::ostream* out = &std::cout;
  if (out_path != "-") {
    file.open(out_path, std::ios::out | std::ios::trunc);
    if (!file) {
      std::cerr << "yktgw-sim: cannot open " << out_path << ": " << std::strerror(errno) << '\n';
      return 1;
    }
    out = &file;
  }
  const auto listed = yktgw::sim::write_cardlist_csv(*out, cards);
  out->flush();
  if (!*out) {
    std::cerr << "yktgw-sim: cannot write " << out_path << '\n';
    return 1;
  }
  std::cerr << "yktgw-sim: " << cards.size() << " cards, " << listed << " on the list, written to "
            << out_path << '\n';
  return 0;
}

int run_load(const RunOptions& o, const std::string& report_path) {
  if (auto v = yktgw::sim::validate(o); !v) {
    std::cerr << "yktgw-sim: " << v.error().message << '\n';
    return 2;
  }
  install_signal_handlers();
  const auto cards = yktgw::sim::generate_population(o.seed, o.cards);
  auto stats = yktgw::sim::run_simulation(o, cards, std::cerr, g_stop_requests, &std::cout);
  if (!stats) {
    std::cerr << "yktgw-sim: " << stats.error().code << ": " << stats.error().message << '\n';
    return 2;
  }
  std::cout << yktgw::sim::summary_json(*stats) << std::endl;
  if (!report_path.empty()) {
    yktgw::sim::RunInfo info;
    info.mode = o.mode;
    info.mix = yktgw::sim::describe_terminals(o);
    info.profile = o.profile;
    info.rate = o.rate;
    info.seed = o.seed;
    info.cards = o.cards;
    info.policies = o.policies;
    std::ofstream file(report_path, std::ios::out | std::ios::trunc);
    file << yktgw::sim::report_json(*stats, info) << '\n';
    file.flush();
    if (!file) {
      std::cerr << "yktgw-sim: cannot write report " << report_path << ": " << std::strerror(errno)
                << '\n';
      return 2;
    }
  }
  return yktgw::sim::run_passed(*stats) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"yktgw-sim: simulated card terminals and load generator for the yktgw gateway"};
  app.set_version_flag("--version", std::string(yktgw::kVersion));

  RunOptions run;
  std::string report_path;
  add_run_options(app, run);
  app.add_option("--report", report_path, "write the JSON report to this file");
  auto* run_cmd = app.add_subcommand(
      "run", "run simulated terminals against a broker and print a JSON summary (the default)");
  auto* load_cmd = app.add_subcommand("load", "open-loop load at a fixed rate (same as run)");
  auto* demo_cmd = app.add_subcommand(
      "demo", "a steady trickle of taps, one readable line per tap on stdout (default 2/s)");
  auto* soak_cmd = app.add_subcommand(
      "soak", "a long run with a JSON summary every --summary-s seconds on stderr");
  for (auto* cmd : {run_cmd, load_cmd, demo_cmd, soak_cmd}) {
    add_run_options(*cmd, run);
    cmd->add_option("--report", report_path, "write the JSON report to this file");
  }

  std::string out_path;
  auto* pop_cmd = app.add_subcommand(
      "population", "write the card list import file (CSV card_no,status) of the population");
  pop_cmd->add_option("--seed", run.seed, "population seed")->capture_default_str();
  pop_cmd->add_option("--cards", run.cards, "population size")->capture_default_str();
  pop_cmd->add_option("--out", out_path, "output file, - for stdout")->required();
  app.require_subcommand(0, 1);

  CLI11_PARSE(app, argc, argv);
  if (*pop_cmd) return write_population(run, out_path);
  if (*demo_cmd) {
    run.mode = "demo";
    if (demo_cmd->count("--rate") == 0 && app.count("--rate") == 0) run.rate = 2;
  } else if (*soak_cmd) {
    run.mode = "soak";
  }
  return run_load(run, report_path);
}
