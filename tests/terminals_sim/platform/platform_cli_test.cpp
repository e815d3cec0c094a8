// The real ykt-platform-sim binary: keygen, serve (a gateway's DistrictLink talks to it over
// CURVE, and forwards batches to it over ZeroMQ and HTTPS), count, and issue-qr checked with the
// gateway's QR parser and the issuer's public key.

#include <gtest/gtest.h>
#include <httplib.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "connectors/https/https_link.h"
#include "connectors/zmq/curve_keys.h"
#include "connectors/zmq/district_link.h"
#include "gateway/credentials/qr_code.h"
#include "gateway/crypto/card_tokenizer.h"
#include "gateway/crypto/sm2.h"
#include "gateway/outbox/batch_format.h"
#include "terminals_sim/platform/platform_db.h"
#include "terminals_sim/sim/population.h"
#include "tests/common/slowdown.h"
#include "tests/connectors/https/dev_certs.h"
#include "tests/integration/harness.h"

namespace yktgw {
namespace {

using namespace std::chrono_literals;
namespace t = yktgw::testing;

const std::string kDevKeys = t::source_dir() + "/config/dev-keys/";

std::string platform_bin() { return t::bin_dir() + "/ykt-platform-sim"; }

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

class PlatformCliTest : public ::testing::Test {
 protected:
  PlatformCliTest() : dir_(t::make_temp_dir("platform-cli")) {
    hmac_key_ = dir_ + "/hmac.key";
    t::write_file(hmac_key_, t::read_file(kDevKeys + "hmac.key"), 0600);
  }

  std::string keygen(const std::string& name) {
    std::string out;
    EXPECT_EQ(t::run_command({platform_bin(), "keygen", "--out", dir_ + "/" + name}, &out), 0)
        << out;
    return first_line(out);
  }

  std::string dir_;
  std::string hmac_key_;
};

TEST_F(PlatformCliTest, KeygenWritesAPrivateFileAndPrintsThePublicKey) {
  const std::string pub = keygen("server.key");
  const std::string path = dir_ + "/server.key";
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto keys = district::read_curve_key_file(path);
  ASSERT_TRUE(keys) << keys.error().message;
  EXPECT_EQ(keys->public_key, pub);

  std::string out;
  EXPECT_NE(t::run_command({platform_bin(), "keygen", "--out", path}, &out), 0);
  EXPECT_NE(out.find("already exists"), std::string::npos) << out;
  EXPECT_EQ(t::run_command({platform_bin(), "keygen", "--out", path, "--force"}, &out), 0);
  EXPECT_NE(district::read_curve_key_file(path)->public_key, pub);
}

TEST_F(PlatformCliTest, ServeRefusesAnOpenKeyFile) {
  keygen("server.key");
  ::chmod((dir_ + "/server.key").c_str(), 0644);
  std::string out;
  EXPECT_NE(t::run_command({platform_bin(), "serve", "--server-key-file", dir_ + "/server.key",
                            "--hmac-key-file", hmac_key_, "--http", "off", "--db", ""},
                           &out),
            0);
  EXPECT_NE(out.find("chmod 600"), std::string::npos) << out;
}

TEST_F(PlatformCliTest, ServeAnswersAGatewayOverCurve) {
  const std::string server_pub = keygen("server.key");
  const int zmq_port = t::free_port();
  const int http_port = t::free_port();
  const std::string db = dir_ + "/platform.db";
  const std::string log = dir_ + "/platform.log";
  auto proc = t::Process::spawn(
      {platform_bin(), "serve", "--zmq", "tcp://127.0.0.1:" + std::to_string(zmq_port),
       "--server-key-file", dir_ + "/server.key", "--hmac-key-file", hmac_key_, "--http",
       "127.0.0.1:" + std::to_string(http_port), "--cards", "300", "--population-seed", "42",
       "--db", db, "--feed-key-file", kDevKeys + "platform-feed.key.pem"},
      log);
  ASSERT_TRUE(t::wait_port(http_port, 10s)) << t::read_file(log);

  SystemClock clock;
  district::DistrictLinkOptions o;
  o.endpoint = "tcp://127.0.0.1:" + std::to_string(zmq_port);
  o.server_public_key = server_pub;
  o.client_keys = district::generate_curve_keypair().value();
  o.gateway_id = "wl-cli-01";
  o.heartbeat_interval = 100ms;
  o.heartbeat_timeout = t::widened(400ms);
  auto link = district::DistrictLink::start(
      o, clock,
      std::make_shared<spdlog::logger>("d", std::make_shared<spdlog::sinks::null_sink_mt>()));
  ASSERT_TRUE(link);
  for (int i = 0; i < 300 && !(*link)->up(); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE((*link)->up()) << t::read_file(log);

  // The platform's tokens are the gateway's: same district key, same card.
  auto tok = CardTokenizer::from_key_file(hmac_key_);
  ASSERT_TRUE(tok);
  const auto population = sim::generate_population(42, 300);
  std::mutex mu;
  std::condition_variable cv;
  int answered = 0;
  int matched = 0;
  for (const sim::Card& card : population) {
    OnlineAuthRequest r;
    r.req_id = "cli-" + std::to_string(answered);
    r.site = "xiangkou";
    r.terminal = "ct-0001";
    r.scenario = "clinic";
    r.card_token = tok->token(card.card_no);
    r.amount_fen = 600;
    const auto expect = sim::expected_outcome(card.status);
    // 300 requests at once: under a sanitizer the instrumented platform answered the last of
    // them after 2 s.
    (*link)->authorize(
        r, t::widened(2000ms), [&, expect](OnlineOutcome outcome, const OnlineAuthReply& reply) {
          std::lock_guard lock(mu);
          ++answered;
          if (outcome == OnlineOutcome::answered && reply.decision == expect.decision &&
              reply.reason == reason_code(expect.reason)) {
            ++matched;
          }
          cv.notify_all();
        });
  }
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, t::widened(10s), [&] { return answered == 300; }));
  }
  EXPECT_EQ(matched, 300);

  httplib::Client http("127.0.0.1", http_port);
  auto health = http.Get("/healthz");
  ASSERT_TRUE(health);
  const auto body = nlohmann::json::parse(health->body);
  EXPECT_EQ(body["auth_requests"], 300);
  ASSERT_EQ(body["gateways"].size(), 1u);
  EXPECT_EQ(body["gateways"][0]["gateway"], "wl-cli-01");
  EXPECT_EQ(http.Get("/cardlist/snapshot")->status, 200);

  link->reset();
  EXPECT_EQ(proc.stop(5000ms), 0) << t::read_file(log);
  auto platform_db = platform::PlatformDb::open(db);
  ASSERT_TRUE(platform_db);
  EXPECT_EQ(*platform_db->auth_count(), 300);
  // Tokens only: no card number reached the platform's file or its log.
  const std::string text = t::read_file(db) + t::read_file(log);
  for (const sim::Card& card : population) {
    ASSERT_EQ(text.find(card.card_no), std::string::npos);
  }
}

TEST_F(PlatformCliTest, AuthDelayMakesTheGatewayTimeOut) {
  const std::string server_pub = keygen("server.key");
  const int zmq_port = t::free_port();
  const std::string log = dir_ + "/platform.log";
  auto proc = t::Process::spawn(
      {platform_bin(), "serve", "--zmq", "tcp://127.0.0.1:" + std::to_string(zmq_port),
       "--server-key-file", dir_ + "/server.key", "--hmac-key-file", hmac_key_, "--http", "off",
       "--db", "", "--cards", "50", "--auth-delay-ms", "300"},
      log);
  SystemClock clock;
  district::DistrictLinkOptions o;
  o.endpoint = "tcp://127.0.0.1:" + std::to_string(zmq_port);
  o.server_public_key = server_pub;
  o.client_keys = district::generate_curve_keypair().value();
  o.heartbeat_interval = 100ms;
  o.heartbeat_timeout = 400ms;
  auto link = district::DistrictLink::start(
      o, clock,
      std::make_shared<spdlog::logger>("d", std::make_shared<spdlog::sinks::null_sink_mt>()));
  ASSERT_TRUE(link);
  for (int i = 0; i < 500 && !(*link)->up(); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE((*link)->up()) << t::read_file(log);
  std::promise<OnlineOutcome> outcome;
  OnlineAuthRequest r;
  r.card_token = std::string(64, 'a');
  (*link)->authorize(r, 100ms,
                     [&](OnlineOutcome oc, const OnlineAuthReply&) { outcome.set_value(oc); });
  auto f = outcome.get_future();
  ASSERT_EQ(f.wait_for(1s), std::future_status::ready);
  EXPECT_EQ(f.get(), OnlineOutcome::timeout);
}

// ---- record batches -----------------------------------------------------------------------

std::shared_ptr<spdlog::logger> null_log() {
  return std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::null_sink_mt>());
}

Batch batch_of(const std::string& gateway, const std::string& destination, int first, int count,
               IssuerRegion region) {
  std::string lines;
  for (int i = first; i < first + count; ++i) {
    TxnRecord r;
    r.terminal = "ct-0001";
    r.txn_id = "ct-0001:" + std::to_string(i);
    r.req_id = "r-" + std::to_string(i);
    r.site = "xiangkou";
    r.scenario = "canteen";
    r.ts_ms = 1'718'000'000'000;
    r.received_ms = r.ts_ms + 50;
    r.card.token = std::string(64, 'a');
    r.card.masked = std::to_string(region) + "0156********1234";
    r.card.region = region;
    r.amount_fen = 600;
    outbox::append_record_line(outbox::ForwardedRecord{static_cast<std::uint64_t>(i), gateway, r},
                               lines);
  }
  Batch b;
  b.first_seq = static_cast<std::uint64_t>(first);
  b.last_seq = static_cast<std::uint64_t>(first + count - 1);
  b.id = outbox::batch_id(gateway, destination, b.first_seq, b.last_seq);
  b.destination = destination;
  b.count = static_cast<std::uint32_t>(count);
  b.payload = outbox::gzip_compress(lines).value();
  return b;
}

DeliveryResult send_and_wait(UpstreamLink& link, const Batch& b) {
  auto answer = std::make_shared<std::promise<DeliveryResult>>();
  link.send(b, [answer](DeliveryResult r) { answer->set_value(std::move(r)); });
  auto f = answer->get_future();
  if (f.wait_for(10s) != std::future_status::ready) {
    return DeliveryResult{DeliveryStatus::retry_later, "test: no answer in 10 s"};
  }
  return f.get();
}

class PlatformBatchesCliTest : public PlatformCliTest {
 protected:
  PlatformBatchesCliTest() : server_pub_(keygen("server.key")), zmq_port_(t::free_port()) {}

  t::Process serve(std::vector<std::string> extra) {
    std::vector<std::string> argv = {platform_bin(),
                                     "serve",
                                     "--zmq",
                                     "tcp://127.0.0.1:" + std::to_string(zmq_port_),
                                     "--server-key-file",
                                     dir_ + "/server.key",
                                     "--hmac-key-file",
                                     hmac_key_,
                                     "--http",
                                     "off",
                                     "--cards",
                                     "50",
                                     "--db",
                                     db_};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return t::Process::spawn(argv, log_);
  }

  std::unique_ptr<district::DistrictLink> district_link(const std::string& gateway) {
    district::DistrictLinkOptions o;
    o.endpoint = "tcp://127.0.0.1:" + std::to_string(zmq_port_);
    o.server_public_key = server_pub_;
    o.client_keys = district::generate_curve_keypair().value();
    o.gateway_id = gateway;
    o.heartbeat_interval = 100ms;
    o.heartbeat_timeout = 400ms;
    o.batch_timeout = 2000ms;
    auto link = district::DistrictLink::start(o, clock_, null_log());
    EXPECT_TRUE(link);
    for (int i = 0; i < 500 && !(*link)->up(); ++i) std::this_thread::sleep_for(10ms);
    EXPECT_TRUE((*link)->up()) << t::read_file(log_);
    return std::move(*link);
  }

  std::string count_output(int expect_code = 0) {
    std::string out;
    EXPECT_EQ(t::run_command({platform_bin(), "count", "--db", db_}, &out), expect_code) << out;
    return out;
  }

  SystemClock clock_;
  std::string server_pub_;
  int zmq_port_;
  std::string db_ = dir_ + "/platform.db";
  std::string log_ = dir_ + "/platform.log";
};

TEST_F(PlatformBatchesCliTest, ServeTakesBatchesOverZeroMQAndHttpsIntoOneDbAndCountReportsThem) {
  using testing::dev_certs;
  const int https_port = t::free_port();
  auto proc = serve({"--https", "127.0.0.1:" + std::to_string(https_port), "--tls-cert",
                     dev_certs().server_cert, "--tls-key", dev_certs().server_key,
                     "--tls-client-ca", dev_certs().ca});
  ASSERT_TRUE(t::wait_port(https_port, 10s)) << t::read_file(log_);

  auto district = district_link("wl-cli-01");
  const Batch d = batch_of("wl-cli-01", "district", 1, 30, 50);
  auto r = send_and_wait(*district, d);
  EXPECT_EQ(r.status, DeliveryStatus::delivered) << r.detail;
  r = send_and_wait(*district, d);  // a re-send after a lost ack, as far as the platform knows
  EXPECT_EQ(r.detail, "accepted=0 duplicates=30");

  https::HttpsLinkOptions o;
  o.url = "https://127.0.0.1:" + std::to_string(https_port);
  o.gateway_id = "gw1";
  o.ca_file = dev_certs().ca;
  o.client_cert_file = dev_certs().client_cert;
  o.client_key_file = dev_certs().client_key;
  auto crossprov = https::HttpsLink::create(o, null_log());
  ASSERT_TRUE(crossprov) << crossprov.error().message;
  r = send_and_wait(**crossprov, batch_of("gw1", "crossprov", 1, 20, 51));
  EXPECT_EQ(r.status, DeliveryStatus::delivered) << r.detail;

  EXPECT_EQ(count_output(),
            "platform\tsource_gateway\tunique\tduplicates\n"
            "crossprov\tgw1\t20\t0\n"
            "district\twl-cli-01\t30\t30\n");
  crossprov->reset();
  district.reset();
  EXPECT_EQ(proc.stop(5000ms), 0) << t::read_file(log_);
  EXPECT_NE(t::read_file(log_).find("batches platform=district accepted=2 records=30 "
                                    "duplicates=30"),
            std::string::npos)
      << t::read_file(log_);
}

TEST_F(PlatformBatchesCliTest, FaultFlagsApplyToBothTransports) {
  using testing::dev_certs;
  const int https_port = t::free_port();
  auto proc = serve({"--fail-400", "1", "--https", "127.0.0.1:" + std::to_string(https_port),
                     "--tls-cert", dev_certs().server_cert, "--tls-key", dev_certs().server_key});
  ASSERT_TRUE(t::wait_port(https_port, 10s)) << t::read_file(log_);
  auto link = district_link("wl-cli-01");
  auto r = send_and_wait(*link, batch_of("wl-cli-01", "district", 1, 5, 50));
  EXPECT_EQ(r.status, DeliveryStatus::rejected) << r.detail;
  EXPECT_NE(r.detail.find("invalid_batch"), std::string::npos);
  https::HttpsLinkOptions o;
  o.url = "https://127.0.0.1:" + std::to_string(https_port);
  o.gateway_id = "gw1";
  o.ca_file = dev_certs().ca;
  auto crossprov = https::HttpsLink::create(o, null_log());
  ASSERT_TRUE(crossprov) << crossprov.error().message;
  r = send_and_wait(**crossprov, batch_of("gw1", "crossprov", 1, 5, 51));
  EXPECT_EQ(r.status, DeliveryStatus::rejected) << r.detail;
  crossprov->reset();
  link.reset();
  proc.stop(5000ms);

  proc = serve({"--fail-429", "1", "--retry-after-s", "7"});
  link = district_link("wl-cli-01");
  r = send_and_wait(*link, batch_of("wl-cli-01", "district", 1, 5, 50));
  EXPECT_EQ(r.status, DeliveryStatus::retry_later);
  EXPECT_NE(r.detail.find("retry_after_ms=7000"), std::string::npos) << r.detail;
  link.reset();
  proc.stop(5000ms);

  proc = serve({"--slow-acks-ms", "300"});
  link = district_link("wl-cli-01");
  const auto start = std::chrono::steady_clock::now();
  r = send_and_wait(*link, batch_of("wl-cli-01", "district", 1, 5, 50));
  EXPECT_EQ(r.status, DeliveryStatus::delivered);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 300ms);
  link.reset();
  proc.stop(5000ms);
  EXPECT_EQ(count_output(),
            "platform\tsource_gateway\tunique\tduplicates\n"
            "district\twl-cli-01\t5\t0\n");
}

TEST_F(PlatformBatchesCliTest, ADownScheduleSilencesTheDistrictLinkAndLetsItBack) {
  auto proc = serve({"--down", "down 1200ms every 2400ms"});
  auto link = district_link("wl-cli-01");  // up in the first 1.2 s
  const auto start = std::chrono::steady_clock::now();
  bool went_down = false;
  bool came_back = false;
  while (std::chrono::steady_clock::now() - start < 6s && !came_back) {
    if (!link->up()) went_down = true;
    if (went_down && link->up()) came_back = true;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(went_down) << "heartbeats were answered while down";
  EXPECT_TRUE(came_back) << t::read_file(log_);
  link.reset();
  EXPECT_EQ(proc.stop(5000ms), 0);
  const std::string log = t::read_file(log_);
  EXPECT_NE(log.find("district link down (schedule)"), std::string::npos) << log;
}

TEST_F(PlatformBatchesCliTest, WithoutDbBatchesAreRefusedAsUnsupportedAndRetried) {
  db_.clear();
  auto proc = serve({});
  auto link = district_link("wl-cli-01");
  auto r = send_and_wait(*link, batch_of("wl-cli-01", "district", 1, 5, 50));
  EXPECT_EQ(r.status, DeliveryStatus::retry_later) << r.detail;
  EXPECT_NE(r.detail.find("unsupported_type"), std::string::npos) << r.detail;
}

TEST_F(PlatformBatchesCliTest, CountNeedsAnExistingFile) {
  count_output(1);
  ASSERT_TRUE(platform::PlatformDb::open(db_));  // a platform file without any batch yet
  EXPECT_EQ(count_output(), "platform\tsource_gateway\tunique\tduplicates\n");
}

TEST_F(PlatformBatchesCliTest, ServeRefusesBadFaultAndHttpsFlags) {
  const std::vector<std::vector<std::string>> bad = {
      {"--fail-500", "0.6", "--fail-429", "0.6"},
      {"--down", "sometimes"},
      {"--down", "down 30s every 10s"},
      {"--https", "127.0.0.1:7443"},  // no certificate
      {"--https", "nowhere", "--tls-cert", "c", "--tls-key", "k"},
  };
  for (const auto& extra : bad) {
    std::vector<std::string> argv = {platform_bin(),
                                     "serve",
                                     "--zmq",
                                     "tcp://127.0.0.1:0",
                                     "--server-key-file",
                                     dir_ + "/server.key",
                                     "--hmac-key-file",
                                     hmac_key_,
                                     "--http",
                                     "off",
                                     "--db",
                                     db_};
    argv.insert(argv.end(), extra.begin(), extra.end());
    std::string out;
    EXPECT_EQ(t::run_command(argv, &out), 2) << extra[0] << ": " << out;
  }
  std::string out;
  EXPECT_NE(t::run_command({platform_bin(), "serve", "--server-key-file", dir_ + "/server.key",
                            "--hmac-key-file", hmac_key_, "--drop-acks", "1.5"},
                           &out),
            0);
}

class IssueQrTest : public PlatformCliTest {
 protected:
  std::string issue(std::vector<std::string> extra, int expect_code = 0) {
    std::vector<std::string> argv = {
        platform_bin(), "issue-qr", "--key-file", kDevKeys + "ecard/50-k1.key.pem",
        "--region",     "50",       "--kid",      "k1"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    std::string out;
    EXPECT_EQ(t::run_command(argv, &out), expect_code) << out;
    return first_line(out);
  }

  bool verifies(const ParsedQr& qr) const {
    auto pub = Sm2PublicKey::from_pem_file(kDevKeys + "ecard/50-k1.pub.pem");
    EXPECT_TRUE(pub);
    return pub->verify(qr.signed_text, qr.signature);
  }

  static std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

TEST_F(IssueQrTest, MintsACodeTheGatewayParsesAndVerifies) {
  const std::string card = "500156195001010001";
  const std::string code = issue({"--card", card, "--hmac-key-file", hmac_key_, "--attr",
                                  "disabled,local", "--groups", "staff"});
  auto qr = parse_qr(code);
  ASSERT_TRUE(qr) << qr.error().message << " code=" << code;
  EXPECT_TRUE(verifies(*qr));
  const QrPayload& p = qr->payload;
  EXPECT_EQ(p.issuer, 50);
  EXPECT_EQ(p.kid, "k1");
  EXPECT_EQ(p.token, CardTokenizer::from_key_file(hmac_key_)->token(card));
  EXPECT_EQ(p.masked, mask_card_number(card));
  EXPECT_EQ(p.birth, (BirthDate{1950, 1, 1}));
  EXPECT_EQ(p.attributes, (std::vector<std::string>{"disabled", "local"}));
  EXPECT_EQ(p.groups, (std::vector<std::string>{"staff"}));
  EXPECT_NEAR(static_cast<double>(p.issued_ms), static_cast<double>(now_ms()), 5000.0);
  EXPECT_EQ(p.expires_ms - p.issued_ms, 60'000);
  EXPECT_EQ(code.find(card), std::string::npos);
}

TEST_F(IssueQrTest, ExpiredAndTamperedCodes) {
  const std::string token(64, 'c');
  auto expired =
      parse_qr(issue({"--token", token, "--valid-s", "60", "--issued-offset-s", "-120"}));
  ASSERT_TRUE(expired);
  EXPECT_TRUE(verifies(*expired));
  EXPECT_LT(expired->payload.expires_ms, now_ms());
  EXPECT_EQ(expired->payload.token, token);

  auto tampered = parse_qr(issue({"--token", token, "--tamper"}));
  ASSERT_TRUE(tampered) << "a tampered code must still parse";
  EXPECT_FALSE(verifies(*tampered));

  auto birth = parse_qr(issue({"--token", token, "--birth", "19400229"}));
  ASSERT_TRUE(birth);
  EXPECT_EQ(birth->payload.birth, (BirthDate{1940, 2, 29}));
}

TEST_F(IssueQrTest, RefusesBadArguments) {
  issue({}, 2);                                // neither --card nor --token
  issue({"--card", "500156195001010001"}, 2);  // no HMAC key for the token
  issue({"--token", std::string(64, 'c'), "--birth", "1940"}, 2);
  issue({"--token", "ABC"}, 2);  // not a token
}

}  // namespace
}  // namespace yktgw
