// End to end with real parts: Mosquitto on a free loopback port, the real yktgw binary, real
// SQLite files, Paho clients acting as terminals.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "gateway/config/config.h"
#include "tests/integration/harness.h"

namespace yktgw::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

const std::string kSite = "xiangkou";

std::string topic(const std::string& terminal, const std::string& leaf) {
  return "ykt/v1/" + kSite + "/" + terminal + "/" + leaf;
}

class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = make_temp_dir(std::string("e2e-") + info->name());
    broker_ = std::make_unique<Broker>(dir_);
    files_ = write_gateway_config(dir_, broker_->uri(), kSite);
    active_ = citizen_number("50015619900101123");
    lost_ = citizen_number("50015619600202234");
    unknown_ = citizen_number("50015619700303345");
    write_file(dir_ + "/cards.csv", "card_no,status\n" + active_ + ",active\n" + lost_ + ",lost\n");
    std::string out;
    ASSERT_EQ(run_command({bin_dir() + "/yktgw", "--config", files_.config, "cardlist", "import",
                           dir_ + "/cards.csv"},
                          &out),
              0)
        << out;
    gateway_ = std::make_unique<Gateway>(files_);
    ASSERT_TRUE(gateway_->wait_connected(10s)) << gateway_->log();
  }

  void TearDown() override {
    gateway_.reset();
    broker_.reset();
  }

  // Sends one auth request and returns the parsed reply.
  json ask(TestClient& c, const std::string& terminal, const std::string& payload,
           const std::string& req_id) {
    c.publish(topic(terminal, "auth/req"), payload);
    auto r = c.wait_for(
        [&](const Received& m) {
          auto j = json::parse(m.payload, nullptr, false);
          return m.topic == topic(terminal, "auth/resp") && j.is_object() &&
                 j.value("req_id", "") == req_id;
        },
        5s);
    if (!r) return json();
    return json::parse(r->payload);
  }

  std::string dir_;
  std::unique_ptr<Broker> broker_;
  GatewayFiles files_;
  std::unique_ptr<Gateway> gateway_;
  std::string active_, lost_, unknown_;
};

TEST_F(GatewayTest, ApprovesActiveCardsAndDeclinesOthersWithReasons) {
  TestClient c(broker_->uri(), "ct-0001", {topic("ct-0001", "auth/resp")});
  struct Case {
    std::string card;
    std::string decision;
    std::string reason;
  } cases[] = {{active_, "approve", "ok"},
               {lost_, "decline", "card_lost"},
               {unknown_, "decline", "unknown_card"},
               {"12AB", "decline", "invalid_card_no"}};
  int n = 0;
  for (const auto& k : cases) {
    const std::string req_id = "r" + std::to_string(++n);
    json r = ask(c, "ct-0001", auth_req_json("ct-0001", req_id, k.card, 800), req_id);
    ASSERT_TRUE(r.is_object()) << "no reply for " << k.reason;
    EXPECT_EQ(r["v"], 1);
    EXPECT_EQ(r["decision"], k.decision) << r.dump();
    EXPECT_EQ(r["reason"], k.reason) << r.dump();
    EXPECT_FALSE(r["message_zh"].get<std::string>().empty());
    EXPECT_FALSE(r["message_en"].get<std::string>().empty());
    EXPECT_EQ(r["mode"], "offline");
    EXPECT_EQ(r["amount_fen"], k.decision == "approve" ? 800 : 0);
    EXPECT_EQ(r.dump().find(k.card.size() == 18 ? k.card : "\x01"), std::string::npos)
        << "full card number echoed";
  }
  json ok = ask(c, "ct-0001", auth_req_json("ct-0001", "m1", active_), "m1");
  EXPECT_EQ(ok.value("card_masked", ""), active_.substr(0, 6) + "********" + active_.substr(14));
}

TEST_F(GatewayTest, RepliesToV5ResponseTopicWithCorrelationData) {
  TestClient c(broker_->uri(), "ct-0002", {topic("ct-0002", "rr/#")});
  c.publish_v5_request(topic("ct-0002", "auth/req"), auth_req_json("ct-0002", "v5-1", active_),
                       topic("ct-0002", "rr/inbox"), std::string("\x00\x01corr", 6));
  auto r = c.wait_for([](const Received& m) { return m.topic.ends_with("rr/inbox"); }, 5s);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->has_correlation);
  EXPECT_EQ(r->correlation_data, std::string("\x00\x01corr", 6));
  EXPECT_EQ(json::parse(r->payload)["decision"], "approve");
}

TEST_F(GatewayTest, ResponseTopicOutsideTheTerminalPrefixFallsBackToDefault) {
  TestClient c(broker_->uri(), "ct-0003",
               {topic("ct-0003", "auth/resp"), topic("ct-9999", "auth/resp")});
  c.publish_v5_request(topic("ct-0003", "auth/req"), auth_req_json("ct-0003", "hijack", active_),
                       topic("ct-9999", "auth/resp"), "x");
  auto r = c.wait_for([](const Received&) { return true; }, 5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->topic, topic("ct-0003", "auth/resp"));
}

TEST_F(GatewayTest, MosquittoRrV5GetsAnAnswer) {
  std::string out;
  int rc = run_command(
      {"mosquitto_rr", "-V", "5", "-h", "127.0.0.1", "-p", std::to_string(broker_->port()), "-t",
       topic("ct-0004", "auth/req"), "-e", topic("ct-0004", "rr/1"), "-W", "5", "-m",
       auth_req_json("ct-0004", "rr-1", active_)},
      &out);
  ASSERT_EQ(rc, 0) << out;
  json r = json::parse(out.substr(0, out.find('\n')), nullptr, false);
  ASSERT_TRUE(r.is_object()) << out;
  EXPECT_EQ(r["req_id"], "rr-1");
  EXPECT_EQ(r["decision"], "approve");
}

TEST_F(GatewayTest, BadInputGetsAReasonAndTheGatewayKeepsServing) {
  const std::string t = "ct-0005";
  TestClient c(broker_->uri(), t, {topic(t, "auth/resp"), topic(t, "txn/ack")});
  struct Case {
    std::string name;
    std::string leaf;
    std::string payload;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"malformed", "auth/req", "{not json", "malformed_json"},
      {"not object", "auth/req", "[1,2,3]", "malformed_json"},
      {"missing", "auth/req", R"({"v":1,"req_id":"x1","terminal":"ct-0005"})", "missing_field"},
      {"wrong type", "auth/req",
       R"({"v":1,"req_id":"x2","terminal":"ct-0005","scenario":"canteen","ts":1,"credential":{"type":"card","card_no":"1"},"amount_fen":"800"})",
       "wrong_type"},
      {"version", "auth/req",
       R"({"v":2,"req_id":"x3","terminal":"ct-0005","scenario":"canteen","ts":1,"credential":{"type":"card","card_no":"1"},"amount_fen":1})",
       "unsupported_version"},
      {"mismatch", "auth/req", auth_req_json("ct-0666", "x4", active_), "terminal_mismatch"},
      {"huge", "auth/req", std::string(17 * 1024, ' ') + auth_req_json(t, "x5", active_),
       "payload_too_large"},
      {"txn malformed", "txn", "\xff\xfe garbage", "malformed_json"},
      {"txn mismatch", "txn", txn_json("ct-0666", "tx-1", active_), "terminal_mismatch"},
      {"txn negative", "txn",
       R"({"v":1,"txn_id":"tx-2","terminal":"ct-0005","scenario":"canteen","ts":1,"credential":{"type":"card","card_no":"1"},"amount_fen":-5,"result":"approved"})",
       "invalid_value"},
  };
  for (const auto& k : cases) {
    c.publish(topic(t, k.leaf), k.payload);
    const std::string reply_topic = topic(t, k.leaf == "txn" ? "txn/ack" : "auth/resp");
    auto r = c.wait_for([&](const Received& m) { return m.topic == reply_topic; }, 5s);
    ASSERT_TRUE(r) << "no reply for " << k.name;
    json j = json::parse(r->payload, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r->payload;
    EXPECT_EQ(j["reason"], k.reason) << k.name << ": " << r->payload;
    if (k.leaf == "txn") {
      EXPECT_EQ(j["status"], "rejected") << k.name;
    } else {
      EXPECT_EQ(j["decision"], "decline") << k.name;
    }
  }
  json ok = ask(c, t, auth_req_json(t, "after", active_), "after");
  EXPECT_EQ(ok["decision"], "approve");
  EXPECT_TRUE(gateway_->process().running());
  EXPECT_EQ(sqlite_value(files_.data_dir + "/records.db", "SELECT count(*) FROM txn"), 0);
}

// Publishes `ids` as txn records from `terminal` and waits for an ack of each.
void send_and_collect(const std::string& uri, const std::string& terminal,
                      const std::vector<std::string>& ids, const std::string& card,
                      std::map<std::string, std::string>& acks) {
  TestClient c(uri, terminal, {topic(terminal, "txn/ack")});
  for (const auto& id : ids) c.publish(topic(terminal, "txn"), txn_json(terminal, id, card));
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (acks.size() < ids.size() && std::chrono::steady_clock::now() < deadline) {
    auto r = c.wait_for([](const Received&) { return true; }, 1s);
    if (!r) continue;
    json j = json::parse(r->payload, nullptr, false);
    if (j.is_object()) acks[j.value("txn_id", "")] = j.value("status", "");
  }
}

TEST_F(GatewayTest, TenThousandRecordsFromSeveralClientsAreStoredExactlyOnce) {
  constexpr int kClients = 4;
  constexpr int kPerClient = 2500;
  std::vector<std::map<std::string, std::string>> first(kClients), second(kClients);
  std::vector<std::vector<std::string>> ids(kClients);
  for (int c = 0; c < kClients; ++c)
    for (int i = 0; i < kPerClient; ++i) ids[c].push_back("tx-" + std::to_string(i));
  {
    std::vector<std::thread> threads;
    for (int c = 0; c < kClients; ++c)
      threads.emplace_back([&, c] {
        send_and_collect(broker_->uri(), "pos-" + std::to_string(c), ids[c], active_, first[c]);
      });
    for (auto& th : threads) th.join();
  }
  // Resend half of each client's records, as a terminal does when acks were lost.
  {
    std::vector<std::thread> threads;
    for (int c = 0; c < kClients; ++c)
      threads.emplace_back([&, c] {
        std::vector<std::string> half(ids[c].begin(), ids[c].begin() + kPerClient / 2);
        send_and_collect(broker_->uri(), "pos-" + std::to_string(c), half, active_, second[c]);
      });
    for (auto& th : threads) th.join();
  }
  for (int c = 0; c < kClients; ++c) {
    ASSERT_EQ(first[c].size(), static_cast<std::size_t>(kPerClient)) << "client " << c;
    EXPECT_TRUE(std::all_of(first[c].begin(), first[c].end(),
                            [](const auto& kv) { return kv.second == "stored"; }));
    ASSERT_EQ(second[c].size(), static_cast<std::size_t>(kPerClient / 2));
    EXPECT_TRUE(std::all_of(second[c].begin(), second[c].end(),
                            [](const auto& kv) { return kv.second == "duplicate"; }));
  }
  const std::string db = files_.data_dir + "/records.db";
  EXPECT_EQ(sqlite_value(db, "SELECT count(*) FROM txn"), kClients * kPerClient);
  EXPECT_EQ(sqlite_value(db, "SELECT count(DISTINCT terminal || '/' || txn_id) FROM txn"),
            kClients * kPerClient);

  // No full card number at rest: neither in the database nor in its WAL, nor in the log.
  gateway_.reset();  // SIGTERM: checkpoints nothing special, but the files are complete
  for (const auto& f : std::filesystem::recursive_directory_iterator(files_.dir)) {
    if (!f.is_regular_file() || f.path().filename() == "cards.csv") continue;
    EXPECT_EQ(read_file(f.path().string()).find(active_), std::string::npos) << f.path();
  }
}

// Bulk upload through the real broker: one txn/batch message, one txn/batch/ack once every
// record is committed; the resend of the same batch comes back as duplicates.
TEST_F(GatewayTest, BulkUploadIsStoredOnceAndAckedPerBatch) {
  constexpr int kBatches = 6;
  constexpr int kPerBatch = 300;
  const std::string t = "bus-0231";
  TestClient c(broker_->uri(), t, {topic(t, "txn/batch/ack")});
  auto batch_payload = [&](int b) {
    json batch = {{"v", 1}, {"batch_id", t + ":b-" + std::to_string(b)}, {"terminal", t}};
    batch["records"] = json::array();
    for (int i = 0; i < kPerBatch; ++i) {
      json rec =
          json::parse(txn_json(t, t + ":" + std::to_string(b * kPerBatch + i), active_, 200));
      rec.erase("v");
      batch["records"].push_back(std::move(rec));
    }
    if (b == 0) batch["records"][7]["amount_fen"] = -5;  // one bad record
    return batch.dump();
  };
  auto collect = [&](std::map<std::string, json>& acks) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (acks.size() < static_cast<std::size_t>(kBatches) &&
           std::chrono::steady_clock::now() < deadline) {
      auto r = c.wait_for([](const Received&) { return true; }, 1s);
      if (!r) continue;
      json j = json::parse(r->payload, nullptr, false);
      ASSERT_TRUE(j.is_object()) << r->payload;
      EXPECT_FALSE(acks.count(j.value("batch_id", ""))) << "one ack per batch";
      acks[j.value("batch_id", "")] = j;
    }
  };
  std::map<std::string, json> first, second;
  for (int b = 0; b < kBatches; ++b) c.publish(topic(t, "txn/batch"), batch_payload(b));
  collect(first);
  for (int b = 0; b < kBatches; ++b) c.publish(topic(t, "txn/batch"), batch_payload(b));
  collect(second);
  ASSERT_EQ(first.size(), static_cast<std::size_t>(kBatches));
  ASSERT_EQ(second.size(), static_cast<std::size_t>(kBatches));
  std::map<std::string, int> first_status, second_status;
  for (const auto& [id, j] : first) {
    EXPECT_EQ(j.value("status", ""), "acked") << j.dump();
    ASSERT_EQ(j["acks"].size(), static_cast<std::size_t>(kPerBatch));
    for (const auto& a : j["acks"]) ++first_status[a.value("status", "")];
  }
  for (const auto& [id, j] : second)
    for (const auto& a : j["acks"]) ++second_status[a.value("status", "")];
  EXPECT_EQ(first_status["stored"], kBatches * kPerBatch - 1);
  EXPECT_EQ(first_status["rejected"], 1);
  EXPECT_EQ(first["bus-0231:b-0"]["acks"][7].value("reason", ""), "invalid_value");
  EXPECT_EQ(second_status["duplicate"], kBatches * kPerBatch - 1);
  EXPECT_EQ(second_status["rejected"], 1);
  const std::string db = files_.data_dir + "/records.db";
  EXPECT_EQ(sqlite_value(db, "SELECT count(*) FROM txn"), kBatches * kPerBatch - 1);
  EXPECT_EQ(sqlite_value(db,
                         "SELECT count(*) FROM txn WHERE terminal = 'bus-0231' AND txn_id = "
                         "'bus-0231:7'"),
            0);
}

TEST_F(GatewayTest, SigtermFlushesAcksAndExitsZeroWithinFiveSeconds) {
  const std::string t = "ct-0006";
  TestClient c(broker_->uri(), t, {topic(t, "txn/ack")});
  for (int i = 0; i < 500; ++i)
    c.publish(topic(t, "txn"), txn_json(t, "s-" + std::to_string(i), active_));
  // Wait for the first ack so the records are flowing, then stop mid-stream.
  auto first = c.wait_for([](const Received&) { return true; }, 5s);
  ASSERT_TRUE(first);
  const auto t0 = std::chrono::steady_clock::now();
  gateway_->process().signal(SIGTERM);
  auto code = gateway_->process().wait(5s);
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(code.has_value()) << "did not exit within 5 s";
  EXPECT_EQ(*code, 0);
  EXPECT_LT(elapsed, 5s);
  std::this_thread::sleep_for(200ms);
  // Every record the terminal was told is stored is in the database.
  std::set<std::string> acked;
  for (const auto& m : c.drain()) {
    json j = json::parse(m.payload);
    if (j.value("status", "") == "stored") acked.insert(j.value("txn_id", ""));
  }
  acked.insert(json::parse(first->payload).value("txn_id", ""));
  const long long rows = sqlite_value(files_.data_dir + "/records.db", "SELECT count(*) FROM txn");
  EXPECT_GE(rows, static_cast<long long>(acked.size()));
  for (const auto& id : acked) {
    EXPECT_EQ(sqlite_value(files_.data_dir + "/records.db",
                           "SELECT count(*) FROM txn WHERE txn_id = '" + id + "'"),
              1)
        << id;
  }
  EXPECT_NE(gateway_->log().find("stopped in"), std::string::npos);
}

TEST_F(GatewayTest, SighupReloadsTheCardList) {
  const std::string t = "ct-0007";
  TestClient c(broker_->uri(), t, {topic(t, "auth/resp")});
  EXPECT_EQ(ask(c, t, auth_req_json(t, "h1", unknown_), "h1")["reason"], "unknown_card");
  write_file(dir_ + "/more.csv", "card_no,status\n" + unknown_ + ",frozen\n");
  ASSERT_EQ(run_command({bin_dir() + "/yktgw", "--config", files_.config, "cardlist", "import",
                         dir_ + "/more.csv"}),
            0);
  gateway_->process().signal(SIGHUP);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (gateway_->log().find("reload done") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  EXPECT_EQ(ask(c, t, auth_req_json(t, "h2", unknown_), "h2")["reason"], "card_frozen");
}

TEST_F(GatewayTest, ReconnectsAndResubscribesAfterBrokerRestart) {
  broker_->restart();  // persistence off: the broker forgets the session and subscriptions
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  json r;
  while (std::chrono::steady_clock::now() < deadline) {
    TestClient c(broker_->uri(), "ct-0008", {topic("ct-0008", "auth/resp")});
    r = ask(c, "ct-0008", auth_req_json("ct-0008", "after-restart", active_), "after-restart");
    if (r.is_object()) break;
  }
  ASSERT_TRUE(r.is_object()) << gateway_->log();
  EXPECT_EQ(r["decision"], "approve");
  EXPECT_NE(gateway_->log().find("connection lost"), std::string::npos);
}

TEST_F(GatewayTest, SequentialRoundTripStaysSubMillisecond) {
  // Guards TCP_NODELAY on both hops: without it each round trip takes about 88 ms.
  const std::string t = "ct-0009";
  TestClient c(broker_->uri(), t, {topic(t, "auth/resp")});
  for (int i = 0; i < 50; ++i)
    ask(c, t, auth_req_json(t, "w" + std::to_string(i), active_), "w" + std::to_string(i));
  std::vector<double> ms;
  for (int i = 0; i < 300; ++i) {
    const std::string id = "q" + std::to_string(i);
    const auto t0 = std::chrono::steady_clock::now();
    json r = ask(c, t, auth_req_json(t, id, active_), id);
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    ASSERT_TRUE(r.is_object());
  }
  std::sort(ms.begin(), ms.end());
  const double p50 = ms[ms.size() / 2];
  RecordProperty("round_trip_p50_ms", std::to_string(p50));
  std::printf("sequential auth round trip p50=%.3f ms p99=%.3f ms\n", p50,
              ms[ms.size() * 99 / 100]);
  EXPECT_LT(p50, 1.0);
}

}  // namespace
}  // namespace yktgw::testing

namespace yktgw::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

// A CA and a server certificate for 127.0.0.1, made with the openssl CLI.
void make_tls_files(const std::string& dir) {
  ASSERT_EQ(run_command({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                         "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
                         "/CN=yktgw test CA", "-keyout", dir + "/ca.key", "-out", dir + "/ca.crt"}),
            0);
  ASSERT_EQ(run_command({"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                         "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", dir + "/server.key", "-out",
                         dir + "/server.csr"}),
            0);
  write_file(dir + "/san.ext", "subjectAltName=IP:127.0.0.1\n");
  ASSERT_EQ(run_command({"openssl", "x509", "-req", "-in", dir + "/server.csr", "-CA",
                         dir + "/ca.crt", "-CAkey", dir + "/ca.key", "-CAcreateserial", "-days",
                         "2", "-extfile", dir + "/san.ext", "-out", dir + "/server.crt"}),
            0);
  // Mosquitto started as root drops to its own user before reading the key: test data only.
  chmod((dir + "/server.key").c_str(), 0644);
}

TEST(GatewayTlsTest, ConnectsToAnSslBrokerWithAPinnedCa) {
  const std::string dir = make_temp_dir("e2e-tls");
  make_tls_files(dir);
  const int tls_port = free_port();
  Broker broker(dir, "\nlistener " + std::to_string(tls_port) + " 127.0.0.1\ncafile " + dir +
                         "/ca.crt\ncertfile " + dir + "/server.crt\nkeyfile " + dir +
                         "/server.key\nallow_anonymous true\n");
  ASSERT_TRUE(wait_port(tls_port, 5s));
  const std::string ssl_uri = "ssl://127.0.0.1:" + std::to_string(tls_port);
  GatewayFiles files = write_gateway_config(dir, ssl_uri, "xiangkou",
                                            "\n[mqtt.tls]\nca_file = \"" + dir + "/ca.crt\"\n");
  Gateway gw(files);
  ASSERT_TRUE(gw.wait_connected(10s)) << gw.log();
  EXPECT_NE(gw.log().find("uri=" + ssl_uri), std::string::npos);

  // A terminal on the plain listener of the same broker reaches the gateway on the TLS one.
  const std::string t = "ct-tls";
  TestClient c(broker.uri(), t, {"ykt/v1/xiangkou/" + t + "/auth/resp"});
  c.publish("ykt/v1/xiangkou/" + t + "/auth/req",
            auth_req_json(t, "tls-1", citizen_number("50015619500101123")));
  auto r = c.wait_for([](const Received&) { return true; }, 5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(json::parse(r->payload)["reason"], "unknown_card");
}

TEST(GatewayTlsTest, RefusesABrokerWhoseCertificateIsNotSignedByThePinnedCa) {
  const std::string dir = make_temp_dir("e2e-tls-bad");
  make_tls_files(dir);
  // A second, unrelated CA: the gateway pins this one, so the broker's certificate fails.
  ASSERT_EQ(run_command({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                         "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=other CA",
                         "-keyout", dir + "/other.key", "-out", dir + "/other.crt"}),
            0);
  const int tls_port = free_port();
  Broker broker(dir, "\nlistener " + std::to_string(tls_port) + " 127.0.0.1\ncafile " + dir +
                         "/ca.crt\ncertfile " + dir + "/server.crt\nkeyfile " + dir +
                         "/server.key\nallow_anonymous true\n");
  ASSERT_TRUE(wait_port(tls_port, 5s));
  GatewayFiles files =
      write_gateway_config(dir, "ssl://127.0.0.1:" + std::to_string(tls_port), "xiangkou",
                           "\n[mqtt.tls]\nca_file = \"" + dir + "/other.crt\"\n");
  Gateway gw(files);
  EXPECT_FALSE(gw.wait_connected(3s));
  EXPECT_NE(gw.log().find("connect failed"), std::string::npos) << gw.log();
  EXPECT_TRUE(gw.process().running()) << "a refused broker must not stop the gateway";
}

TEST(GatewaySessionTest, RecordsPublishedWhileTheGatewayIsDownAreStoredAfterItReturns) {
  const std::string dir = make_temp_dir("e2e-session");
  Broker broker(dir);
  GatewayFiles files = write_gateway_config(dir, broker.uri());
  const std::string t = "pos-9";
  const std::string card = citizen_number("50015619500101123");
  {
    Gateway gw(files);
    ASSERT_TRUE(gw.wait_connected(10s)) << gw.log();
  }  // SIGTERM: a clean stop; the broker keeps the persistent session and queues for it
  TestClient c(broker.uri(), t, {"ykt/v1/xiangkou/" + t + "/txn/ack"});
  for (int i = 0; i < 100; ++i)
    c.publish("ykt/v1/xiangkou/" + t + "/txn", txn_json(t, "offline-" + std::to_string(i), card));
  std::this_thread::sleep_for(300ms);
  Gateway gw(files);
  ASSERT_TRUE(gw.wait_connected(10s)) << gw.log();
  std::set<std::string> stored;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (stored.size() < 100 && std::chrono::steady_clock::now() < deadline) {
    auto r = c.wait_for([](const Received&) { return true; }, 1s);
    if (r && json::parse(r->payload).value("status", "") == "stored")
      stored.insert(json::parse(r->payload).value("txn_id", ""));
  }
  EXPECT_EQ(stored.size(), 100u);
  EXPECT_NE(gw.log().find("session_present=true"), std::string::npos);
}

// Copies of the example config's secret key files with mode 0600 in `dir`, as --set arguments.
std::vector<std::string> private_key_copies(const std::string& dir) {
  write_file(dir + "/hmac.key", read_file(source_dir() + "/config/dev-keys/hmac.key"), 0600);
  write_file(dir + "/terminal-mac.keys",
             read_file(source_dir() + "/config/dev-keys/terminal-mac.keys"), 0600);
  return {"--set", "security.hmac_key_file=" + dir + "/hmac.key", "--set",
          "credentials.terminal_mac_keys_file=" + dir + "/terminal-mac.keys"};
}

TEST(CheckConfigTest, ExampleConfigIsValidAndErrorsNameFileLineAndKey) {
  std::string out;
  const std::string dir = make_temp_dir("check-config");
  // A checkout leaves the example secret keys readable by others, which the gateway refuses.
  const auto keys = private_key_copies(dir);
  std::vector<std::string> argv{bin_dir() + "/yktgw", "check-config",
                                source_dir() + "/config/yktgw.toml"};
  argv.insert(argv.end(), keys.begin(), keys.end());
  EXPECT_EQ(run_command(argv, &out), 0) << out;
  write_file(dir + "/bad.toml",
             "[gateway]\nid = \"gw\"\nsite = \"s\"\n\n[mqtt]\nkeepalive_s = \"thirty\"\n");
  EXPECT_EQ(run_command({bin_dir() + "/yktgw", "check-config", dir + "/bad.toml"}, &out), 1);
  EXPECT_NE(out.find("bad.toml:6"), std::string::npos) << out;
  EXPECT_NE(out.find("mqtt.keepalive_s"), std::string::npos) << out;
  // --set overrides are checked as strictly as the file.
  EXPECT_EQ(run_command({bin_dir() + "/yktgw", "check-config", source_dir() + "/config/yktgw.toml",
                         "--set", "log.level=loud"},
                        &out),
            1);
  EXPECT_NE(out.find("log.level"), std::string::npos) << out;
}

TEST(CheckConfigTest, ChecksTheFilesTheConfigNamesAsStartWould) {
  std::string out;
  const std::string dir = make_temp_dir("check-config-files");
  const std::string config = source_dir() + "/config/yktgw.toml";
  const auto keys = private_key_copies(dir);
  // A key file readable by others: refused, with the fix.
  write_file(dir + "/open.key", read_file(source_dir() + "/config/dev-keys/hmac.key"), 0644);
  EXPECT_EQ(run_command({bin_dir() + "/yktgw", "check-config", config, keys[2], keys[3], "--set",
                         "security.hmac_key_file=" + dir + "/open.key"},
                        &out),
            1);
  EXPECT_NE(out.find("chmod 600"), std::string::npos) << out;
  auto check = [&](const std::string& set) {
    std::vector<std::string> argv{bin_dir() + "/yktgw", "check-config", config};
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), {"--set", set});
    return run_command(argv, &out);
  };
  // A missing policies file is named.
  EXPECT_EQ(check("policy.file=" + dir + "/missing-policies.toml"), 1);
  EXPECT_NE(out.find("missing-policies.toml"), std::string::npos) << out;
  // A policies file with an error: file, line and key.
  write_file(dir + "/policies.toml", "[scenario.canteen]\nkind = \"canteen\"\nbogus_key = 1\n");
  EXPECT_EQ(check("policy.file=" + dir + "/policies.toml"), 1);
  EXPECT_NE(out.find("key 'policy.file': " + dir + "/policies.toml:"), std::string::npos) << out;
  // A TLS file that does not exist.
  EXPECT_EQ(check("mqtt.tls.ca_file=" + dir + "/no-ca.pem"), 1);
  EXPECT_NE(out.find("mqtt.tls.ca_file"), std::string::npos) << out;
}

// Every key that names a file or directory the gateway reads. A file it cannot read is
// reported the same way by check-config and by start: where the key was set, the key, the path
// and the reason.
struct FileKey {
  std::string key;
  std::string companion;  // a key that must be set with it, given a readable file; or empty
};

void PrintTo(const FileKey& k, std::ostream* os) { *os << k.key; }

class InputFileKeyTest : public ::testing::TestWithParam<FileKey> {};

TEST_P(InputFileKeyTest, AnUnreadableFileIsNamedWithItsKeyAndLine) {
  const FileKey& k = GetParam();
  std::string name = k.key;
  std::replace(name.begin(), name.end(), '.', '-');
  const std::string dir = make_temp_dir("check-config-" + name);
  GatewayFiles files = write_gateway_config(dir, "tcp://127.0.0.1:1");
  const std::string missing = dir + "/missing/" + name;
  const std::string readable = dir + "/readable.pem";
  write_file(readable, "not checked: the key beside it fails first\n", 0600);

  // The key goes into its own table in the file, as an operator would write it.
  std::string text = read_file(files.config);
  auto put = [&text](const std::string& key, const std::string& value) {
    const auto dot = key.rfind('.');
    const std::string header = "[" + key.substr(0, dot) + "]\n";
    const std::string line = key.substr(dot + 1) + " = \"" + value + "\"\n";
    const auto at = text.find(header);
    if (at == std::string::npos) {
      text += "\n" + header + line;
      return;
    }
    const auto body = at + header.size();
    const auto end = std::min(text.find("\n[", body), text.size());
    const auto old = text.find("\n" + key.substr(dot + 1) + " = ", body - 1);
    if (old != std::string::npos && old < end) {
      text.replace(old + 1, text.find('\n', old + 1) - old, line);
    } else {
      text.insert(body, line);
    }
  };
  put(k.key, missing);
  if (!k.companion.empty()) put(k.companion, readable);
  // The loader names the value's first character: the opening quote.
  const auto quote = text.find("\"" + missing + "\"");
  ASSERT_NE(quote, std::string::npos);
  const auto line = std::count(text.begin(), text.begin() + static_cast<long>(quote), '\n') + 1;
  const auto column = quote - text.rfind('\n', quote);
  write_file(files.config, text);
  const std::string expected = "yktgw: " + files.config + ":" + std::to_string(line) + ":" +
                               std::to_string(column) + ": key '" + k.key + "': cannot read '" +
                               missing + "': No such file or directory\n";

  std::string out;
  EXPECT_EQ(run_command({bin_dir() + "/yktgw", "check-config", files.config}, &out), 1);
  EXPECT_EQ(out, expected);

  // Start says the same, and stops before it connects anywhere.
  Gateway gw(files);
  const auto code = gw.process().wait(20s);
  ASSERT_TRUE(code.has_value()) << gw.log();
  EXPECT_EQ(*code, 2);
  EXPECT_NE(gw.log().find(expected), std::string::npos) << expected << "---\n" << gw.log();

  // Given with --set, the override is named.
  const std::string other = dir + "/missing/other";
  EXPECT_EQ(
      run_command(
          {bin_dir() + "/yktgw", "check-config", files.config, "--set", k.key + "=" + other}, &out),
      1);
  EXPECT_EQ(out, "yktgw: --set " + k.key + ": key '" + k.key + "': cannot read '" + other +
                     "': No such file or directory\n");
}

const std::vector<FileKey> kInputFileKeys = {
    {"security.hmac_key_file", ""},
    {"policy.file", ""},
    {"policy.service_items_file", ""},
    {"cardlist.platform_public_key_file", ""},
    {"cardlist.ca_file", ""},
    {"credentials.terminal_mac_keys_file", ""},
    {"credentials.ecard_key_dir", ""},
    {"credentials.ykm_key_dir", ""},
    {"district.client_key_file", ""},
    {"mqtt.tls.ca_file", ""},
    {"mqtt.tls.cert_file", "mqtt.tls.key_file"},
    {"mqtt.tls.key_file", "mqtt.tls.cert_file"},
    {"https.ca_file", ""},
    {"https.client_cert_file", "https.client_key_file"},
    {"https.client_key_file", "https.client_cert_file"},
};

INSTANTIATE_TEST_SUITE_P(CheckConfigTest, InputFileKeyTest, ::testing::ValuesIn(kInputFileKeys),
                         [](const ::testing::TestParamInfo<FileKey>& info) {
                           std::string name = info.param.key;
                           std::replace(name.begin(), name.end(), '.', '_');
                           return name;
                         });

// A key added to the schema as a file the gateway reads gets a case above.
TEST(CheckConfigTest, EveryInputFileKeyHasACase) {
  std::set<std::string> cases;
  for (const FileKey& k : kInputFileKeys) cases.insert(k.key);
  std::set<std::string> inputs;
  for (const KeySpec& spec : config_schema()) {
    if (spec.path_role == PathRole::input_file || spec.path_role == PathRole::input_dir) {
      inputs.insert(spec.path);
    }
  }
  EXPECT_EQ(cases, inputs);
}

// --config and --set belong to the top level; every subcommand that reads them says so in its
// own help, so `yktgw outbox stats --help` alone tells an operator how to point it at a config.
TEST(CommandLineTest, SubcommandHelpShowsTheConfigOptions) {
  std::string out;
  for (const std::vector<std::string>& words : {std::vector<std::string>{"run"},
                                                {"outbox", "stats"},
                                                {"cardlist", "import"},
                                                {"cardlist", "export"},
                                                {"cardlist", "stats"},
                                                {"deadletter", "list"},
                                                {"deadletter", "retry"}}) {
    std::vector<std::string> argv{bin_dir() + "/yktgw"};
    argv.insert(argv.end(), words.begin(), words.end());
    argv.push_back("--help");
    EXPECT_EQ(run_command(argv, &out), 0) << out;
    EXPECT_NE(out.find("--config"), std::string::npos) << words.back() << ":\n" << out;
    EXPECT_NE(out.find("--set"), std::string::npos) << words.back() << ":\n" << out;
  }
  // check-config takes its file as an argument; only --set applies.
  EXPECT_EQ(run_command({bin_dir() + "/yktgw", "check-config", "--help"}, &out), 0) << out;
  EXPECT_NE(out.find("--set"), std::string::npos) << out;
  EXPECT_EQ(out.find("--config"), std::string::npos) << out;
}

TEST(GatewayStartTest, RefusesAKeyFileOthersCanRead) {
  const std::string dir = make_temp_dir("e2e-keyperm");
  GatewayFiles files = write_gateway_config(dir, "tcp://127.0.0.1:1");
  chmod(files.key_file.c_str(), 0644);
  Gateway gw(files);
  auto code = gw.process().wait(5s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 2);
  EXPECT_NE(gw.log().find("chmod 600"), std::string::npos) << gw.log();
}

}  // namespace
}  // namespace yktgw::testing
