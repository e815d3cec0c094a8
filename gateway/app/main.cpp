// yktgw: the township gateway of the resident-services one-card programme.

#include <fcntl.h>
#include <openssl/rand.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>

#include "connectors/zmq/curve_keys.h"
#include "gateway/app/gateway_app.h"
#include "gateway/cardlist/card_list_store.h"
#include "gateway/config/config.h"
#include "gateway/core/version.h"
#include "gateway/crypto/card_tokenizer.h"
#include "gateway/outbox/outbox_admin.h"
#include "gateway/outbox/outbox_config.h"
#include "gateway/outbox/router.h"

namespace {

using yktgw::Config;

int fail(const std::string& message, int code = 1) {
  std::fprintf(stderr, "yktgw: %s\n", message.c_str());
  return code;
}

yktgw::Result<Config> load(const std::string& path, const std::vector<std::string>& sets) {
  if (path.empty()) return yktgw::make_error("usage", "--config FILE is required");
  return yktgw::load_config(path, sets);
}

int run_gateway(const std::string& path, const std::vector<std::string>& sets) {
  auto cfg = load(path, sets);
  if (!cfg) return fail(cfg.error().message);

  // Signals are taken synchronously by this thread; every thread started later inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto app = yktgw::GatewayApp::start(*cfg);
  if (!app) return fail(app.error().message, 2);

  for (;;) {
    timespec timeout{1, 0};
    int sig = sigtimedwait(&signals, nullptr, &timeout);
    if (sig == SIGTERM || sig == SIGINT) break;
    if (sig == SIGHUP) {
      auto next = load(path, sets);
      if (!next) {
        std::fprintf(stderr, "yktgw: reload refused, keeping the running config: %s\n",
                     next.error().message.c_str());
      } else {
        (*app)->reload(*next);
      }
    }
    (*app)->tick();
  }
  (*app)->shutdown();
  return 0;
}

int check_config(const std::string& path, const std::vector<std::string>& sets) {
  auto cfg = yktgw::load_config(path, sets);
  if (!cfg) return fail(cfg.error().message);
  if (auto r = yktgw::preflight(*cfg); !r) return fail(r.error().message);
  std::printf("%s: ok (gateway %s, site %s)\n", path.c_str(), cfg->gateway.id.c_str(),
              cfg->gateway.site.c_str());
  return 0;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int cardlist_import(const std::string& path, const std::vector<std::string>& sets,
                    const std::string& csv) {
  auto cfg = load(path, sets);
  if (!cfg) return fail(cfg.error().message);
  auto tok = yktgw::CardTokenizer::from_key_file(cfg->security.hmac_key_file);
  if (!tok) return fail(yktgw::in_key(*cfg, "security.hmac_key_file", tok.error()).message);
  if (auto r = yktgw::make_dirs(cfg->gateway.data_dir); !r) return fail(r.error().message);
  auto db = yktgw::CardListDb::open(cfg->gateway.data_dir + "/cardlist.db");
  if (!db) return fail(db.error().message);
  auto st = db->import_csv(csv, *tok, now_ms());
  if (!st) return fail(st.error().message);
  for (const auto& e : st->first_errors) std::fprintf(stderr, "yktgw: %s\n", e.c_str());
  std::printf("imported rows=%llu upserted=%llu rejected=%llu version=%lld\n",
              static_cast<unsigned long long>(st->rows),
              static_cast<unsigned long long>(st->upserted),
              static_cast<unsigned long long>(st->rejected), static_cast<long long>(st->version));
  std::printf("a running gateway picks the new list up on SIGHUP (systemctl reload yktgw)\n");
  return st->rejected == 0 ? 0 : 1;
}

int cardlist_stats(const std::string& path, const std::vector<std::string>& sets) {
  auto cfg = load(path, sets);
  if (!cfg) return fail(cfg.error().message);
  auto db = yktgw::CardListDb::open(cfg->gateway.data_dir + "/cardlist.db");
  if (!db) return fail(db.error().message);
  auto st = db->stats();
  if (!st) return fail(st.error().message);
  std::printf(
      "{\"version\":%lld,\"total\":%llu,\"active\":%llu,\"lost\":%llu,\"frozen\":%llu,"
      "\"cancelled\":%llu}\n",
      static_cast<long long>(st->version), static_cast<unsigned long long>(st->total),
      static_cast<unsigned long long>(st->by_status[0]),
      static_cast<unsigned long long>(st->by_status[1]),
      static_cast<unsigned long long>(st->by_status[2]),
      static_cast<unsigned long long>(st->by_status[3]));
  return 0;
}

int cardlist_export(const std::string& path, const std::vector<std::string>& sets,
                    const std::string& out_path) {
  auto cfg = load(path, sets);
  if (!cfg) return fail(cfg.error().message);
  auto groups = yktgw::AttributeNames::parse(cfg->cardlist.groups);
  if (!groups) return fail(yktgw::in_key(*cfg, "cardlist.groups", groups.error()).message);
  auto db = yktgw::CardListDb::open(cfg->gateway.data_dir + "/cardlist.db", *groups);
  if (!db) return fail(db.error().message);
  std::ofstream file;
  std::ostream* out = &std::cout;
  if (out_path != "-") {
    file.open(out_path, std::ios::out | std::ios::trunc);
    if (!file) return fail("cannot write '" + out_path + "'");
    out = &file;
  }
  auto n = db->export_csv(*out);
  if (!n) return fail(n.error().message);
  out->flush();
  if (!*out) return fail("writing '" + out_path + "' failed");
  std::fprintf(stderr, "exported cards=%llu\n", static_cast<unsigned long long>(*n));
  return 0;
}

int outbox_stats_cmd(const std::string& path, const std::vector<std::string>& sets) {
  auto cfg = load(path, sets);
  if (!cfg) return fail(cfg.error().message);
  auto routes = yktgw::outbox::route_table_from(cfg->upstream);
  if (!routes) return fail(routes.error().message);
  yktgw::outbox::Router router(std::move(routes.value()));
  auto st = yktgw::outbox::outbox_stats(yktgw::outbox::records_db_path(*cfg),
                                        yktgw::outbox::outbox_db_path(*cfg), router, now_ms());
  if (!st) return fail(st.error().message);
  std::fputs(yktgw::outbox::format_outbox_stats(*st).c_str(), stdout);
  return 0;
}

int deadletter_list_cmd(const std::string& path, const std::vector<std::string>& sets, bool all) {
  auto cfg = load(path, sets);
  if (!cfg) return fail(cfg.error().message);
  auto letters = yktgw::outbox::list_dead_letters(yktgw::outbox::outbox_db_path(*cfg), all);
  if (!letters) return fail(letters.error().message);
  std::fputs(yktgw::outbox::format_dead_letters(*letters).c_str(), stdout);
  return 0;
}

int deadletter_retry_cmd(const std::string& path, const std::vector<std::string>& sets,
                         const std::string& id, bool all) {
  auto cfg = load(path, sets);
  if (!cfg) return fail(cfg.error().message);
  const std::string db = yktgw::outbox::outbox_db_path(*cfg);
  if (all) {
    auto n = yktgw::outbox::retry_all_dead_letters(db, now_ms());
    if (!n) return fail(n.error().message);
    std::printf("queued %d dead letters for a re-send\n", *n);
    return 0;
  }
  char* end = nullptr;
  const long long value = std::strtoll(id.c_str(), &end, 10);
  if (id.empty() || *end != '\0') return fail("deadletter retry: give an ID or --all");
  auto letter = yktgw::outbox::retry_dead_letter(db, value, now_ms());
  if (!letter) return fail(letter.error().message);
  std::printf("queued dead letter %lld for a re-send\n", value);
  return 0;
}

// District HMAC key: 32 random bytes as hex, readable by the owner only.
int keygen_hmac(const std::string& out, bool force) {
  if (!force && std::ifstream(out).good()) return fail("'" + out + "' exists; --force to replace");
  unsigned char key[32];
  if (RAND_bytes(key, sizeof key) != 1) return fail("no random bytes from OpenSSL");
  std::string hex;
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char b : key) {
    hex += kHex[b >> 4];
    hex += kHex[b & 15];
  }
  const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return fail("cannot write '" + out + "'");
  hex += '\n';
  const bool ok = ::write(fd, hex.data(), hex.size()) == static_cast<ssize_t>(hex.size());
  ::fchmod(fd, 0600);
  ::close(fd);
  if (!ok) return fail("cannot write '" + out + "'");
  std::printf("HMAC key written to %s (mode 600)\n", out.c_str());
  return 0;
}

// CURVE key pair of the gateway for the district link; prints the public key for the platform.
int keygen_curve(const std::string& out, bool force) {
  auto keys = yktgw::district::generate_curve_keypair();
  if (!keys) return fail(keys.error().message);
  if (auto r = yktgw::district::write_curve_key_file(out, *keys, force); !r)
    return fail(r.error().message);
  std::printf("%s\n", keys->public_key.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"yktgw: township gateway of the Wulong resident-services one-card programme"};
  app.set_version_flag("--version", std::string(yktgw::kVersion));
  std::string config_path;
  std::vector<std::string> sets;
  app.add_option("-c,--config", config_path, "Configuration file (TOML)");
  app.add_option("--set", sets, "Override a key, e.g. --set log.level=debug (repeatable)")
      ->take_all();

  // The subcommands take --config and --set from the top level (fallthrough), before or after
  // the subcommand's name; CLI11 lists only a command's own options, so a footer shows them.
  const auto footer = [&app](bool with_config) {
    std::string text = "Options of yktgw, before or after the subcommand:\n";
    if (with_config) {
      text +=
          "  -c,--config FILE            " + app.get_option("--config")->get_description() + "\n";
    }
    text += "  --set key=value             " + app.get_option("--set")->get_description();
    return text;
  };
  const auto takes_config = [&](CLI::App* sub, bool with_config = true) {
    sub->fallthrough();
    sub->footer(footer(with_config));
  };

  auto* run = app.add_subcommand("run", "Run the gateway (the default)");
  takes_config(run);

  std::string check_path;
  auto* check = app.add_subcommand("check-config", "Check a configuration file; exit 0 or 1");
  check->add_option("file", check_path, "Configuration file")->required();
  takes_config(check, /*with_config=*/false);

  auto* cardlist = app.add_subcommand("cardlist", "Card list maintenance");
  cardlist->require_subcommand(1);
  takes_config(cardlist);
  std::string csv;
  auto* import = cardlist->add_subcommand("import", "Import a CSV (card_no,status) into the list");
  import->add_option("file", csv, "CSV file")->required();
  takes_config(import);
  std::string export_out = "-";
  auto* export_cmd = cardlist->add_subcommand(
      "export", "Write the list as CSV (tokens and masked numbers; import reads it back)");
  export_cmd->add_option("--out", export_out, "output file, - for stdout")->capture_default_str();
  takes_config(export_cmd);
  auto* stats = cardlist->add_subcommand("stats", "Print the list version and counts");
  takes_config(stats);

  auto* keygen =
      app.add_subcommand("keygen", "Make keys: curve (district link) or hmac (card tokens)");
  keygen->require_subcommand(1);
  std::string key_out;
  bool key_force = false;
  auto* keygen_curve_cmd = keygen->add_subcommand(
      "curve", "CURVE key pair for the district link; prints the public key");
  keygen_curve_cmd->add_option("--out", key_out, "Key file to write (mode 600)")->required();
  keygen_curve_cmd->add_flag("--force", key_force, "Replace an existing file");
  auto* keygen_hmac_cmd = keygen->add_subcommand("hmac", "District HMAC-SM3 key for card tokens");
  keygen_hmac_cmd->add_option("--out", key_out, "Key file to write (mode 600)")->required();
  keygen_hmac_cmd->add_flag("--force", key_force, "Replace an existing file");

  auto* outbox_cmd = app.add_subcommand("outbox", "Forwarding state per destination");
  outbox_cmd->require_subcommand(1);
  takes_config(outbox_cmd);
  auto* outbox_stats = outbox_cmd->add_subcommand("stats", "Backlog, lag and dead letters");
  takes_config(outbox_stats);

  auto* deadletter = app.add_subcommand("deadletter", "Batches a platform refused as invalid");
  deadletter->require_subcommand(1);
  takes_config(deadletter);
  bool dl_all = false;
  std::string dl_id;
  auto* dl_list = deadletter->add_subcommand("list", "List dead letters, newest first");
  dl_list->add_flag("--all", dl_all, "Also those already re-sent");
  takes_config(dl_list);
  auto* dl_retry = deadletter->add_subcommand("retry", "Queue dead letters for a re-send");
  dl_retry->add_option("id", dl_id, "Dead letter id (see list)");
  dl_retry->add_flag("--all", dl_all, "Every dead letter");
  takes_config(dl_retry);

  auto* version = app.add_subcommand("version", "Print the version");

  CLI11_PARSE(app, argc, argv);

  if (*version) {
    std::printf("yktgw %s\n", yktgw::kVersion);
    return 0;
  }
  if (*keygen_curve_cmd) return keygen_curve(key_out, key_force);
  if (*keygen_hmac_cmd) return keygen_hmac(key_out, key_force);
  if (*outbox_stats) return outbox_stats_cmd(config_path, sets);
  if (*dl_list) return deadletter_list_cmd(config_path, sets, dl_all);
  if (*dl_retry) return deadletter_retry_cmd(config_path, sets, dl_id, dl_all);
  if (*check) return check_config(check_path, sets);
  if (*import) return cardlist_import(config_path, sets, csv);
  if (*stats) return cardlist_stats(config_path, sets);
  if (*export_cmd) return cardlist_export(config_path, sets, export_out);
  return run_gateway(config_path, sets);
}
