// yktgw-sim: simulated card terminals for the yktgw gateway, and its load generator.
//   yktgw-sim [run] --broker URI --site S --terminals N --rate R --duration SEC [...]
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

int run_load(const RunOptions& o) {
  if (auto v = yktgw::sim::validate(o); !v) {
    std::cerr << "yktgw-sim: " << v.error().message << '\n';
    return 2;
  }
  install_signal_handlers();
  const auto cards = yktgw::sim::generate_population(o.seed, o.cards);
  auto stats = yktgw::sim::run_simulation(o, cards, std::cerr, g_stop_requests);
  if (!stats) {
    std::cerr << "yktgw-sim: " << stats.error().code << ": " << stats.error().message << '\n';
    return 2;
  }
  std::cout << yktgw::sim::summary_json(*stats) << std::endl;
  return yktgw::sim::run_passed(*stats) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"yktgw-sim: simulated card terminals and load generator for the yktgw gateway"};
  app.set_version_flag("--version", std::string(yktgw::kVersion));

  RunOptions run;
  add_run_options(app, run);
  auto* run_cmd = app.add_subcommand(
      "run", "run simulated terminals against a broker and print a JSON summary (the default)");
  add_run_options(*run_cmd, run);

  std::string out_path;
  auto* pop_cmd = app.add_subcommand(
      "population", "write the card list import file (CSV card_no,status) of the population");
  pop_cmd->add_option("--seed", run.seed, "population seed")->capture_default_str();
  pop_cmd->add_option("--cards", run.cards, "population size")->capture_default_str();
  pop_cmd->add_option("--out", out_path, "output file, - for stdout")->required();
  app.require_subcommand(0, 1);

  CLI11_PARSE(app, argc, argv);
  if (*pop_cmd) return write_population(run, out_path);
  return run_load(run);
}
