// ykt-platform-sim: a reference district platform for yktgw tests, demos and vendors.
//   ykt-platform-sim serve --zmq tcp://127.0.0.1:7100 --server-key-file FILE --hmac-key-file FILE
//                          [--http 127.0.0.1:7180] [--population-seed 42] [--cards 2000]
//                          [--db platform.db] [--feed-key-file platform-feed.key.pem]
//                          [--auth-delay-ms N] [--drop-heartbeats]
//                          [--https 127.0.0.1:7443 --tls-cert F --tls-key F [--tls-client-ca F]]
//                          [--slow-acks-ms N] [--drop-acks P] [--fail-500 P] [--fail-429 P]
//                          [--fail-400 P] [--retry-after-s N] [--down "down 10s every 30s"]
//                          [--fault-seed N]
//   ykt-platform-sim count --db FILE [--kind txn|attendance]
//   ykt-platform-sim keygen --out FILE
//   ykt-platform-sim issue-qr --key-file issuer.key.pem --region 50 --kid k1
//                             (--card CARDNO --hmac-key-file FILE | --token HEX) [...]

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>
#include <sstream>

#include "connectors/zmq/curve_keys.h"
#include "connectors/zmq/district_server.h"
#include "gateway/core/version.h"
#include "gateway/credentials/qr_code.h"
#include "gateway/crypto/card_tokenizer.h"
#include "gateway/crypto/sm2.h"
#include "terminals_sim/platform/district_batches.h"
#include "terminals_sim/platform/district_loop.h"
#include "terminals_sim/platform/feed_publisher.h"
#include "terminals_sim/platform/http_api.h"
#include "terminals_sim/platform/platform_cards.h"
#include "terminals_sim/platform/platform_db.h"
#include "terminals_sim/platform/platform_service.h"
#include "terminals_sim/platform_https/https_batch_receiver.h"
#include "terminals_sim/platform_https/received_store.h"
#include "terminals_sim/sim/population.h"

namespace {

using namespace yktgw;

std::atomic<bool> g_stop{false};

void on_signal(int) { g_stop.store(true); }

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int fail(const std::string& message, int code = 1) {
  std::fprintf(stderr, "ykt-platform-sim: %s\n", message.c_str());
  return code;
}

std::shared_ptr<spdlog::logger> make_logger(const std::string& name, const std::string& level) {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto log = std::make_shared<spdlog::logger>(name, sink);
  log->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %n %v", spdlog::pattern_time_type::utc);
  log->set_level(spdlog::level::from_str(level));
  log->flush_on(spdlog::level::trace);  // tests read the log while the process runs
  return log;
}

// ---- serve -----------------------------------------------------------------------------------

struct ServeArgs {
  std::string zmq = "tcp://127.0.0.1:7100";
  std::string server_key_file;
  std::string hmac_key_file;
  std::string http = "127.0.0.1:7180";
  std::uint64_t seed = 42;
  std::size_t cards = 2000;
  std::string db = "platform.db";
  std::string feed_key_file;
  int auth_delay_ms = 0;
  bool drop_heartbeats = false;
  std::string log_level = "info";
  // Record batches: ZeroMQ BATCH always (with --db), HTTPS with --https.
  std::string https;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  int slow_acks_ms = 0;
  double drop_acks = 0;
  double fail_500 = 0;
  double fail_429 = 0;
  double fail_400 = 0;
  int retry_after_s = 1;
  std::string down;
  std::uint64_t fault_seed = 0;
};

// The same faults for both transports; each draws from its own generator.
Result<platform::ReceiverFaults> faults_from(const ServeArgs& a) {
  if (a.fail_500 + a.fail_429 + a.fail_400 > 1.0) {
    return make_error("usage", "--fail-500, --fail-429 and --fail-400 add up to more than 1");
  }
  auto down = platform::parse_down_schedule(a.down);
  if (!down) return make_error("usage", "--down: " + down.error().message);
  platform::ReceiverFaults f;
  f.ack_delay_ms = a.slow_acks_ms;
  f.drop_ack_probability = a.drop_acks;
  f.error_500_probability = a.fail_500;
  f.error_429_probability = a.fail_429;
  f.error_400_probability = a.fail_400;
  f.retry_after_s = a.retry_after_s;
  f.down = *down;
  f.seed = a.fault_seed;
  return f;
}

void log_batch_stats(spdlog::logger& log, std::string_view platform,
                     const platform::ReceiverStats& s) {
  log.info(
      "batches platform={} accepted={} records={} duplicates={} invalid={} injected_500={} "
      "injected_429={} injected_400={} dropped_acks={}",
      platform, s.batches_accepted, s.records_accepted, s.duplicates, s.malformed, s.injected_500,
      s.injected_429, s.injected_400, s.dropped_acks);
}

int serve(const ServeArgs& a) {
  auto log = make_logger("platform", a.log_level);
  auto keys = district::read_curve_key_file(a.server_key_file);
  if (!keys) return fail(keys.error().message);
  auto tokenizer = CardTokenizer::from_key_file(a.hmac_key_file);
  if (!tokenizer) return fail(tokenizer.error().message);
  std::optional<Sm2PrivateKey> feed_key;
  if (!a.feed_key_file.empty()) {
    auto k = Sm2PrivateKey::from_pem_file(a.feed_key_file);
    if (!k) return fail("--feed-key-file: " + k.error().message);
    feed_key.emplace(std::move(*k));
  }
  std::optional<platform::HttpOptions> http;
  if (!a.http.empty() && a.http != "off") {
    auto h = platform::parse_http_address(a.http);
    if (!h) return fail(h.error().message, 2);
    http = *h;
  }
  auto faults = faults_from(a);
  if (!faults) return fail(faults.error().message, 2);
  std::optional<platform::HttpOptions> https;
  if (!a.https.empty()) {
    auto h = platform::parse_http_address(a.https);
    if (!h) return fail("--https expects host:port, e.g. 127.0.0.1:7443", 2);
    if (a.tls_cert.empty() || a.tls_key.empty()) {
      return fail("--https needs --tls-cert and --tls-key", 2);
    }
    if (a.db.empty()) return fail("--https needs --db: the batches are stored there", 2);
    https = *h;
  }
  std::optional<platform::PlatformDb> db;
  if (!a.db.empty()) {
    auto d = platform::PlatformDb::open(a.db);
    if (!d) return fail("--db: " + d.error().message);
    db.emplace(std::move(*d));
  }

  SystemClock clock;
  // Batches need somewhere to go: without --db, BATCH is answered unsupported_type and the
  // gateway keeps its records.
  std::unique_ptr<platform::DistrictBatchReceiver> district_batches;
  if (!a.db.empty()) {
    platform::DistrictBatchOptions o;
    o.db_path = a.db;
    o.faults = *faults;
    auto r = platform::DistrictBatchReceiver::open(o, clock);
    if (!r) return fail("--db: " + r.error().message);
    district_batches = std::move(*r);
  }
  const auto population = sim::generate_population(a.seed, a.cards);
  platform::PlatformCards cards(population, *tokenizer, a.seed, clock.wall_ms());
  platform::PlatformService service(
      cards,
      platform::ServiceOptions{std::chrono::milliseconds(a.auth_delay_ms), a.drop_heartbeats},
      clock);
  std::optional<platform::FeedPublisher> feed;
  if (feed_key) feed.emplace(cards, std::move(*feed_key));

  auto server = district::DistrictServer::bind(
      district::DistrictServerOptions{a.zmq, *keys, 100'000}, make_logger("district", a.log_level));
  if (!server) return fail(server.error().message);

  std::unique_ptr<platform::PlatformHttp> http_server;
  if (http) {
    http->zmq_endpoint = (*server)->endpoint();
    auto h =
        platform::PlatformHttp::start(*http, cards, service, feed ? &*feed : nullptr, clock, log);
    if (!h) return fail(h.error().message);
    http_server = std::move(*h);
  }

  std::unique_ptr<platform::HttpsBatchReceiver> https_receiver;
  if (https) {
    platform::HttpsReceiverOptions o;
    o.host = https->host;
    o.port = https->port;
    o.cert_file = a.tls_cert;
    o.key_file = a.tls_key;
    o.client_ca_file = a.tls_client_ca;
    o.db_path = a.db;
    o.platform = "crossprov";
    o.faults = *faults;
    auto r = platform::HttpsBatchReceiver::start(o, make_logger("https", a.log_level));
    if (!r) return fail("--https: " + r.error().message);
    https_receiver = std::move(*r);
  }

  install_signal_handlers();
  log->info(
      "ready zmq={} http={} https={} population={} listed={} seed={} auth_delay_ms={} "
      "drop_heartbeats={} feed={} db={} slow_acks_ms={} drop_acks={} fail_500={} fail_429={} "
      "fail_400={} down=\"{}\"",
      (*server)->endpoint(),
      http_server ? http->host + ":" + std::to_string(http_server->port()) : "off",
      https_receiver ? https->host + ":" + std::to_string(https_receiver->port()) : "off",
      cards.population(), cards.listed(), a.seed, a.auth_delay_ms, a.drop_heartbeats,
      feed ? "on" : "off", a.db.empty() ? "none" : a.db, a.slow_acks_ms, a.drop_acks, a.fail_500,
      a.fail_429, a.fail_400, a.down);
  platform::DistrictLoopOptions loop;
  loop.batches = district_batches.get();
  loop.down = faults->down;
  platform::DistrictLoopStats loop_stats;
  auto r = platform::serve_district(**server, service, db ? &*db : nullptr, g_stop, *log, loop,
                                    &loop_stats);
  if (http_server) http_server->stop();
  if (https_receiver) https_receiver->stop();
  const auto st = service.stats();
  log->info(
      "stopped heartbeats={} auth_requests={} approved={} declined={} malformed={} "
      "dropped_while_down={}",
      st.heartbeats, st.auth_requests, st.approved, st.declined, st.malformed,
      loop_stats.dropped_while_down.load());
  if (district_batches) log_batch_stats(*log, "district", district_batches->stats());
  if (https_receiver) log_batch_stats(*log, "crossprov", https_receiver->stats());
  if (!r) return fail(r.error().message);
  return 0;
}

// ---- count -----------------------------------------------------------------------------------

int count(const std::string& db, const std::string& kind) {
  if (!std::filesystem::exists(db)) return fail("--db: no such file: " + db);
  auto counts = platform::count_received(db, kind);
  if (!counts) return fail("--db: " + counts.error().message);
  std::cout << platform::format_counts(*counts) << std::flush;
  return 0;
}

// ---- keygen ----------------------------------------------------------------------------------

int keygen(const std::string& out, bool force) {
  auto keys = district::generate_curve_keypair();
  if (!keys) return fail(keys.error().message);
  if (auto r = district::write_curve_key_file(out, *keys, force); !r)
    return fail(r.error().message);
  // Only the public key on stdout, so scripts can capture it for district.server_public_key.
  std::cout << keys->public_key << std::endl;
  std::fprintf(stderr,
               "ykt-platform-sim: CURVE server key pair written to %s (mode 600); give gateways "
               "the public key above as district.server_public_key\n",
               out.c_str());
  return 0;
}

// ---- issue-qr ----------------------------------------------------------------------------------

struct QrArgs {
  std::string key_file;
  int region = 50;
  std::string kid;
  std::string card;
  std::string token;
  std::string masked;
  std::string hmac_key_file;
  std::string birth;
  std::string attributes;
  std::string groups;
  int valid_s = 60;
  int issued_offset_s = 0;
  bool tamper = false;
};

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

bool parse_birth(std::string_view s, BirthDate& out) {
  if (s.size() != 8 || s.find_first_not_of("0123456789") != std::string_view::npos) return false;
  out.year = std::stoi(std::string(s.substr(0, 4)));
  out.month = std::stoi(std::string(s.substr(4, 2)));
  out.day = std::stoi(std::string(s.substr(6, 2)));
  return out.month >= 1 && out.month <= 12 && out.day >= 1 && out.day <= 31;
}

std::string random_nonce() {
  std::random_device rd;
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 32; ++i) out.push_back(kDigits[rd() & 0xF]);
  return out;
}

int issue_qr(const QrArgs& a) {
  auto key = Sm2PrivateKey::from_pem_file(a.key_file);
  if (!key) return fail("--key-file: " + key.error().message);
  if (a.card.empty() == a.token.empty()) return fail("give exactly one of --card and --token", 2);

  QrPayload p;
  p.issuer = static_cast<IssuerRegion>(a.region);
  p.kid = a.kid;
  if (!a.card.empty()) {
    if (a.hmac_key_file.empty()) return fail("--card needs --hmac-key-file for the token", 2);
    auto tokenizer = CardTokenizer::from_key_file(a.hmac_key_file);
    if (!tokenizer) return fail(tokenizer.error().message);
    p.token = tokenizer->token(a.card);
    p.masked = mask_card_number(a.card);
    // A citizen number carries the birth date (digits 7-14); --birth overrides it.
    if (a.card.size() == 18 && !parse_birth(std::string_view(a.card).substr(6, 8), p.birth)) {
      p.birth = {};
    }
  } else {
    p.token = a.token;
    p.masked = a.masked.empty() ? std::string(18, '*') : a.masked;
  }
  if (!a.masked.empty()) p.masked = a.masked;
  if (!a.birth.empty() && !parse_birth(a.birth, p.birth)) {
    return fail("--birth expects YYYYMMDD", 2);
  }
  p.attributes = split_list(a.attributes);
  p.groups = split_list(a.groups);
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  p.issued_ms = now + static_cast<std::int64_t>(a.issued_offset_s) * 1000;
  p.expires_ms = p.issued_ms + static_cast<std::int64_t>(a.valid_s) * 1000;
  p.nonce = random_nonce();

  // Expired and not-yet-valid codes are minted on purpose; only the structure must hold, so a
  // test gets the decline it asked for rather than "malformed".
  if (auto v = validate_qr_payload(p); !v) return fail(v.error().message, 2);
  std::string code = mint_qr(p, *key);
  if (code.empty()) return fail("signing the QR code failed");
  if (a.tamper) {
    // Keep the signature of the original and change the payload under it (another nonce): the
    // code still parses, and only the signature check can refuse it.
    QrPayload changed = p;
    changed.nonce.back() = changed.nonce.back() == '0' ? '1' : '0';
    const auto sig = code.substr(code.rfind('.'));
    code = std::string(kQrPrefix) + base64url_encode(encode_qr_payload(changed)) + sig;
  }
  std::cout << code << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ykt-platform-sim: reference district platform for the yktgw gateway"};
  app.set_version_flag("--version", std::string(yktgw::kVersion));
  app.require_subcommand(1);

  ServeArgs s;
  auto* serve_cmd = app.add_subcommand(
      "serve",
      "answer heartbeats, online authorization and record batches over ZeroMQ (CURVE), "
      "serve the card list feed over HTTP, take record batches over HTTPS");
  serve_cmd->add_option("--zmq", s.zmq, "ROUTER endpoint to bind")->capture_default_str();
  serve_cmd->add_option("--server-key-file", s.server_key_file, "CURVE server key pair (keygen)")
      ->required();
  serve_cmd
      ->add_option("--hmac-key-file", s.hmac_key_file,
                   "district HMAC-SM3 key for card tokens (hex; the gateway's key)")
      ->required();
  serve_cmd->add_option("--http", s.http, "HTTP host:port, or off")->capture_default_str();
  serve_cmd->add_option("--population-seed", s.seed, "seed of the yktgw-sim card population")
      ->capture_default_str();
  serve_cmd->add_option("--cards", s.cards, "size of the card population")->capture_default_str();
  serve_cmd->add_option("--db", s.db, "platform SQLite file; empty for none")
      ->capture_default_str();
  serve_cmd->add_option("--feed-key-file", s.feed_key_file,
                        "SM2 private key (PEM) signing the card list feed; feed off without it");
  serve_cmd->add_option("--auth-delay-ms", s.auth_delay_ms, "hold every online answer this long")
      ->capture_default_str()
      ->check(CLI::Range(0, 600'000));
  serve_cmd->add_flag("--drop-heartbeats", s.drop_heartbeats,
                      "never answer heartbeats (the gateway sees the link down)");
  serve_cmd->add_option("--log-level", s.log_level, "trace|debug|info|warn|error")
      ->capture_default_str();
  serve_cmd->add_option("--https", s.https,
                        "HTTPS batch receiver host:port (platform crossprov); off without it");
  serve_cmd->add_option("--tls-cert", s.tls_cert, "server certificate (PEM) for --https");
  serve_cmd->add_option("--tls-key", s.tls_key, "server private key (PEM) for --https");
  serve_cmd->add_option("--tls-client-ca", s.tls_client_ca,
                        "require client certificates from this CA (mTLS) on --https");
  serve_cmd
      ->add_option("--slow-acks-ms", s.slow_acks_ms,
                   "answer every stored batch this much later (both transports)")
      ->capture_default_str()
      ->check(CLI::Range(0, 600'000));
  serve_cmd
      ->add_option("--drop-acks", s.drop_acks,
                   "probability 0..1: store a batch but never answer it (both transports)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  serve_cmd
      ->add_option("--fail-500", s.fail_500,
                   "probability 0..1: HTTPS 500 / ZeroMQ ERROR unavailable, nothing stored")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  serve_cmd
      ->add_option("--fail-429", s.fail_429,
                   "probability 0..1: HTTPS 429 / ZeroMQ ERROR busy with retry_after_ms")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  serve_cmd
      ->add_option("--fail-400", s.fail_400,
                   "probability 0..1: HTTPS 400 / ZeroMQ ERROR invalid_batch (a dead letter)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  serve_cmd->add_option("--retry-after-s", s.retry_after_s, "the wait --fail-429 asks for")
      ->capture_default_str()
      ->check(CLI::Range(0, 3600));
  serve_cmd->add_option("--down", s.down,
                        "down/up schedule, e.g. \"down 10s every 30s\": ZeroMQ answers nothing "
                        "(heartbeats included), HTTPS refuses connections");
  serve_cmd->add_option("--fault-seed", s.fault_seed, "seed of the fault draws; 0: random")
      ->capture_default_str();

  std::string count_db;
  auto* count_cmd = app.add_subcommand(
      "count", "print unique and duplicate records per platform and source gateway");
  count_cmd->add_option("--db", count_db, "platform SQLite file (serve --db)")->required();
  std::string count_kind;
  count_cmd
      ->add_option("--kind", count_kind,
                   "only records of this kind: txn (terminal transactions) or attendance "
                   "(clock-ins the gateway recorded); default every kind")
      ->check(CLI::IsMember({"txn", "attendance"}));

  std::string key_out;
  bool force = false;
  auto* keygen_cmd =
      app.add_subcommand("keygen", "write a CURVE server key pair, print its public key");
  keygen_cmd->add_option("--out", key_out, "key file to create (mode 600)")->required();
  keygen_cmd->add_flag("--force", force, "replace an existing file");

  QrArgs q;
  auto* qr_cmd =
      app.add_subcommand("issue-qr", "print a signed dynamic QR code (ecard_qr / ykm_qr)");
  qr_cmd->add_option("--key-file", q.key_file, "issuer SM2 private key (PEM)")->required();
  qr_cmd->add_option("--region", q.region, "issuer region, e.g. 50")
      ->capture_default_str()
      ->check(CLI::Range(10, 99));
  qr_cmd->add_option("--kid", q.kid, "issuer key id")->required();
  qr_cmd->add_option("--card", q.card, "card number (tokenised with --hmac-key-file)");
  qr_cmd->add_option("--token", q.token, "card token, 64 lower-case hex digits");
  qr_cmd->add_option("--masked", q.masked, "masked number shown on terminals");
  qr_cmd->add_option("--hmac-key-file", q.hmac_key_file, "district HMAC-SM3 key (hex)");
  qr_cmd->add_option("--birth", q.birth, "birth date YYYYMMDD");
  qr_cmd->add_option("--attr", q.attributes, "attributes, e.g. disabled,local");
  qr_cmd->add_option("--groups", q.groups, "groups, e.g. staff");
  qr_cmd->add_option("--valid-s", q.valid_s, "seconds from issue to expiry")
      ->capture_default_str()
      ->check(CLI::Range(0, 86'400));
  qr_cmd
      ->add_option("--issued-offset-s", q.issued_offset_s,
                   "issue time relative to now (negative: in the past)")
      ->capture_default_str();
  qr_cmd->add_flag("--tamper", q.tamper, "change the payload after signing (bad_signature)");

  CLI11_PARSE(app, argc, argv);
  if (*serve_cmd) return serve(s);
  if (*count_cmd) return count(count_db, count_kind);
  if (*keygen_cmd) return keygen(key_out, force);
  if (*qr_cmd) return issue_qr(q);
  return 2;
}
