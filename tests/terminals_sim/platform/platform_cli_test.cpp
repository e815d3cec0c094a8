// The real ykt-platform-sim binary: keygen, serve (a gateway's DistrictLink talks to it over
// CURVE), and issue-qr checked with the gateway's QR parser and the issuer's public key.

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

#include "connectors/zmq/curve_keys.h"
#include "connectors/zmq/district_link.h"
#include "gateway/credentials/qr_code.h"
#include "gateway/crypto/card_tokenizer.h"
#include "gateway/crypto/sm2.h"
#include "terminals_sim/platform/platform_db.h"
#include "terminals_sim/sim/population.h"
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
  o.heartbeat_timeout = 400ms;
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
    (*link)->authorize(r, 2000ms, [&, expect](OnlineOutcome outcome, const OnlineAuthReply& reply) {
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
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return answered == 300; }));
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
