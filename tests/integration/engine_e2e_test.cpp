// The authorization engine end to end: the real yktgw with scenario policies, the district
// link to the real ykt-platform-sim, a signed card-list feed served over HTTP, QR codes minted
// by the platform simulator; terminals are MQTT clients on a real Mosquitto.

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "gateway/cardlist/card_token.h"
#include "gateway/cardlist/feed_format.h"
#include "gateway/credentials/terminal_mac.h"
#include "gateway/crypto/card_tokenizer.h"
#include "gateway/crypto/sm2.h"
#include "tests/integration/harness.h"

namespace yktgw::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

const std::string kSite = "xiangkou";

std::string topic(const std::string& terminal, const std::string& leaf) {
  return "ykt/v1/" + kSite + "/" + terminal + "/" + leaf;
}

json ask(TestClient& c, const std::string& terminal, const std::string& payload,
         const std::string& req_id, std::chrono::milliseconds timeout = 5s) {
  c.publish(topic(terminal, "auth/req"), payload);
  auto r = c.wait_for(
      [&](const Received& m) {
        auto j = json::parse(m.payload, nullptr, false);
        return j.is_object() && j.value("req_id", "") == req_id;
      },
      timeout);
  return r ? json::parse(r->payload) : json::object();
}

std::string qr_req_json(const std::string& terminal, const std::string& req_id,
                        const std::string& qr, const std::string& scenario,
                        const std::string& type = "ecard_qr") {
  return R"({"v":1,"req_id":")" + req_id + R"(","terminal":")" + terminal + R"(","scenario":")" +
         scenario + R"(","ts":1764379200000,"credential":{"type":")" + type + R"(","qr":")" + qr +
         R"("},"amount_fen":0})";
}

// A card request as auth_req_json writes it, with the credential's `mac` field.
std::string mac_req_json(const std::string& terminal, const std::string& req_id,
                         const std::string& card_no, long long amount_fen,
                         const std::string& scenario, const std::string& mac) {
  return R"({"v":1,"req_id":")" + req_id + R"(","terminal":")" + terminal + R"(","scenario":")" +
         scenario + R"(","ts":1764379200000,"credential":{"type":"card","card_no":")" + card_no +
         R"(","mac":")" + mac + R"("},"amount_fen":)" + std::to_string(amount_fen) + "}";
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

// Rows of a read-only query on an SQLite file another process writes (WAL): each row's columns
// as text. Empty on any error (the file may not exist yet).
std::vector<std::vector<std::string>> query(const std::string& path, const std::string& sql) {
  std::vector<std::vector<std::string>> rows;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return rows;
  }
  sqlite3_busy_timeout(db, 2000);
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int i = 0; i < sqlite3_column_count(st); ++i) {
        const auto* text = sqlite3_column_text(st, i);
        row.emplace_back(text ? reinterpret_cast<const char*>(text) : "");
      }
      rows.push_back(std::move(row));
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return rows;
}

// Valid citizen numbers of Wulong residents born 1990, numbered from `from`.
std::vector<std::string> wulong_cards(int n, int from = 100) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "50015619900101%03d", from + i);
    out.push_back(citizen_number(buf));
  }
  return out;
}

const std::string kPolicies = R"(version = 1
[scenario.bus]
kind = "bus"
service_item = 29
online = "prefer"
online_deadline_ms = 150
fare_fen = 200
offline_limit_fen = 500
offline_daily_cap_fen = 2000
offline_max_taps = 10

[scenario.clinic]
kind = "clinic"
service_item = 40
online = "required"

[scenario.library]
kind = "library"
service_item = 30
unknown_card = "allow"

[scenario.canteen_mac]
kind = "canteen"
service_item = 16
require_mac = true
unknown_card = "allow"
daily_meal_cap = 0

[scenario.gate_site]
kind = "gate"
service_item = 5
clock_in = true
unknown_card = "allow"

[scenario.gate_crew]
kind = "gate"
service_item = 5
clock_in = true
allowed_groups = ["site_worker"]
unknown_card = "allow"

[[terminal]]
match = "ct-0001"
scenario = "canteen_mac"
[[terminal]]
match = "gt-*"
scenario = "gate_site"
[[terminal]]
match = "gc-*"
scenario = "gate_crew"
[[terminal]]
match = "bus-*"
scenario = "bus"
[[terminal]]
match = "med-*"
scenario = "clinic"
[[terminal]]
match = "lib-*"
scenario = "library"
)";

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = make_temp_dir(std::string("engine-") + info->name());
    broker_ = std::make_unique<Broker>(dir_);
  }

  // Gateway files with our policies plus `extra` TOML appended.
  GatewayFiles files(const std::string& extra) {
    GatewayFiles f = write_gateway_config(dir_, broker_->uri(), kSite, extra);
    write_file(f.policies, kPolicies);
    return f;
  }

  std::string dir_;
  std::unique_ptr<Broker> broker_;
};

// ---------------------------------------------------------------------------------------------
// District link down: offline rules, caps, counters that survive a restart, online-only clinic.

class PlatformSim {
 public:
  PlatformSim(const std::string& dir, const std::string& hmac_key_file) : dir_(dir) {
    port_ = free_port();
    std::string out;
    EXPECT_EQ(run_command({bin_dir() + "/ykt-platform-sim", "keygen", "--out", dir + "/server.key",
                           "--force"},
                          &out),
              0)
        << out;
    public_key_ = first_line(out);
    hmac_ = hmac_key_file;
    start();
  }
  ~PlatformSim() { proc_.stop(); }
  void start() {
    proc_ =
        Process::spawn({bin_dir() + "/ykt-platform-sim", "serve", "--zmq", endpoint(),
                        "--server-key-file", dir_ + "/server.key", "--hmac-key-file", hmac_,
                        "--http", "off", "--population-seed", "42", "--cards", "300", "--db", ""},
                       dir_ + "/platform.out");
    wait_port(port_, 5s);
  }
  void kill() {
    proc_.signal(SIGKILL);
    proc_.wait(5s);
  }
  std::string endpoint() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  const std::string& public_key() const { return public_key_; }

 private:
  std::string dir_, public_key_, hmac_;
  int port_ = 0;
  Process proc_;
};

TEST_F(EngineTest, PlatformDownBusGoesOfflineUpToTheCapCountersSurviveARestartClinicDeclines) {
  // The card list and the platform both come from the simulator's population (seed 42).
  const std::string csv = dir_ + "/cards.csv";
  ASSERT_EQ(run_command({bin_dir() + "/yktgw-sim", "population", "--seed", "42", "--cards", "300",
                         "--out", csv}),
            0);
  std::string active, lost;
  {
    std::istringstream in(read_file(csv));
    std::string line;
    while (std::getline(in, line)) {
      if (active.empty() && line.ends_with(",active")) active = line.substr(0, line.find(','));
      if (lost.empty() && line.ends_with(",lost")) lost = line.substr(0, line.find(','));
    }
  }
  ASSERT_FALSE(active.empty());
  ASSERT_FALSE(lost.empty());

  std::string out;
  ASSERT_EQ(
      run_command({bin_dir() + "/yktgw", "keygen", "curve", "--out", dir_ + "/client.key"}, &out),
      0)
      << out;
  GatewayFiles f = files("");  // writes the HMAC key the platform needs too
  PlatformSim platform(dir_, f.key_file);
  f = files("\n[district]\nendpoint = \"" + platform.endpoint() + "\"\nserver_public_key = \"" +
            platform.public_key() + "\"\nclient_key_file = \"" + dir_ +
            "/client.key\"\nheartbeat_interval_ms = 200\nheartbeat_timeout_ms = 700\n");
  ASSERT_EQ(
      run_command({bin_dir() + "/yktgw", "--config", f.config, "cardlist", "import", csv}, &out), 0)
      << out;

  auto gw = std::make_unique<Gateway>(f);
  ASSERT_TRUE(gw->wait_connected(10s)) << gw->log();
  TestClient bus(broker_->uri(), "bus-01", {topic("bus-01", "auth/resp")});
  TestClient med(broker_->uri(), "med-01", {topic("med-01", "auth/resp")});
  int n = 0;
  auto tap = [&](TestClient& c, const std::string& t, const std::string& scenario,
                 const std::string& card) {
    const std::string id = "r" + std::to_string(++n);
    return ask(c, t, auth_req_json(t, id, card, 200, scenario), id);
  };

  // Link up: the platform decides.
  json online = json::object();
  for (int i = 0; i < 50 && online.value("mode", "") != "online"; ++i) {
    std::this_thread::sleep_for(100ms);
    online = tap(bus, "bus-01", "bus", active);
  }
  EXPECT_EQ(online["decision"], "approve") << online.dump();
  EXPECT_EQ(online["mode"], "online") << online.dump();
  EXPECT_EQ(online["service_item"], 29);
  EXPECT_EQ(tap(bus, "bus-01", "bus", lost)["reason"], "card_lost");
  EXPECT_EQ(tap(med, "med-01", "clinic", active)["decision"], "approve");

  // Link down: offline rules.
  platform.kill();
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(tap(med, "med-01", "clinic", active)["reason"], "online_required");
  int approved = 0;
  json last;
  for (int i = 0; i < 15; ++i) {
    last = tap(bus, "bus-01", "bus", active);
    ASSERT_TRUE(last.is_object());
    EXPECT_EQ(last["mode"], "offline");
    if (last["decision"] == "approve") {
      ++approved;
    } else {
      break;
    }
  }
  EXPECT_EQ(approved, 10) << "2000 fen offline cap at 200 a tap, at most 10 offline taps";
  EXPECT_TRUE(last["reason"] == "offline_daily_cap_reached" ||
              last["reason"] == "offline_tap_cap_reached")
      << last.dump();

  // The counters survive a restart of the gateway.
  gw.reset();
  gw = std::make_unique<Gateway>(f);
  ASSERT_TRUE(gw->wait_connected(10s)) << gw->log();
  std::this_thread::sleep_for(200ms);
  json after = tap(bus, "bus-01", "bus", active);
  EXPECT_EQ(after["decision"], "decline") << after.dump();
  EXPECT_EQ(after["reason"], last["reason"]);
}

// ---------------------------------------------------------------------------------------------
// The signed card-list feed: an update under load, and a tampered snapshot.

class FeedServer {
 public:
  explicit FeedServer(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {
    key_ = std::make_unique<Sm2PrivateKey>(
        Sm2PrivateKey::from_pem_file(source_dir() + "/config/dev-keys/platform-feed.key.pem")
            .value());
    server_.Get("/cardlist/snapshot", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard lock(mu_);
      ++snapshots_;
      res.set_content(tampered_snapshot_ ? tampered() : snapshot(), "application/octet-stream");
    });
    server_.Get("/cardlist/delta", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      const auto from = std::stoll(req.get_param_value("from"));
      if (tampered_snapshot_) {
        res.status = 409;
      } else if (offer_delta_ && from == 1) {
        res.set_content(delta(), "application/octet-stream");
      } else {
        res.status = 204;
      }
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~FeedServer() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Cards [0, changed) turn lost in version 2.
  void offer_delta(std::size_t changed) {
    std::lock_guard lock(mu_);
    changed_ = changed;
    offer_delta_ = true;
  }
  void offer_tampered_snapshot() {
    std::lock_guard lock(mu_);
    tampered_snapshot_ = true;
  }
  int snapshots() {
    std::lock_guard lock(mu_);
    return snapshots_;
  }

 private:
  std::string snapshot() const {
    FeedHeader h;
    h.kind = FeedKind::snapshot;
    h.version = 1;
    h.created_ms = now_ms();
    std::vector<FeedEntry> e;
    for (const auto& t : tokens_)
      e.push_back(FeedEntry{*token_from_hex(t), FeedOp::upsert, CardStatus::active, 0});
    return encode_feed(h, e, *key_);
  }
  std::string delta() const {
    FeedHeader h;
    h.kind = FeedKind::delta;
    h.base_version = 1;
    h.version = 2;
    h.created_ms = now_ms();
    std::vector<FeedEntry> e;
    for (std::size_t i = 0; i < changed_; ++i)
      e.push_back(FeedEntry{*token_from_hex(tokens_[i]), FeedOp::upsert, CardStatus::lost, 0});
    return encode_feed(h, e, *key_);
  }
  // A version 2 snapshot declaring every card lost, with one byte changed after signing.
  std::string tampered() const {
    FeedHeader h;
    h.kind = FeedKind::snapshot;
    h.version = 2;
    h.created_ms = now_ms();
    std::vector<FeedEntry> e;
    for (const auto& t : tokens_)
      e.push_back(FeedEntry{*token_from_hex(t), FeedOp::upsert, CardStatus::lost, 0});
    std::string bytes = encode_feed(h, e, *key_);
    bytes[bytes.size() / 2] ^= 0x01;
    return bytes;
  }
  static std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  std::vector<std::string> tokens_;
  std::unique_ptr<Sm2PrivateKey> key_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  bool offer_delta_ = false;
  bool tampered_snapshot_ = false;
  std::size_t changed_ = 0;
  int snapshots_ = 0;
};

std::vector<std::string> tokens_of(const std::vector<std::string>& cards,
                                   const std::string& key_file) {
  auto tok = CardTokenizer::from_key_file(key_file);
  std::vector<std::string> out;
  for (const auto& c : cards) out.push_back(tok->token(c));
  return out;
}

std::string feed_config(const std::string& url) {
  return "\n[cardlist]\nfeed_url = \"" + url + "\"\nplatform_public_key_file = \"" + source_dir() +
         "/config/dev-keys/platform-feed.pub.pem\"\npoll_interval_s = 5\n";
}

// Asks about `card` at the library terminal `t` every 100 ms, up to 50 times, until it is
// approved: the gateway serves a feed's list only once its first poll brought it. The last
// answer; the request ids are `id_prefix` and a number.
json ask_until_approved(TestClient& c, const std::string& t, const std::string& card,
                        const std::string& id_prefix) {
  json r = json::object();
  for (int i = 0; i < 50 && r.value("reason", "") != "ok"; ++i) {
    std::this_thread::sleep_for(100ms);
    const std::string id = id_prefix + std::to_string(i);
    r = ask(c, t, auth_req_json(t, id, card, 0, "library"), id);
  }
  return r;
}

TEST_F(EngineTest, ACardListUpdateUnderLoadGivesNoWrongDecision) {
  const auto cards = wulong_cards(200);
  GatewayFiles f = files("");
  FeedServer feed(tokens_of(cards, f.key_file));
  f = files(feed_config(feed.url()));
  Gateway gw(f);
  ASSERT_TRUE(gw.wait_connected(10s)) << gw.log();

  const std::string t = "lib-01";
  TestClient c(broker_->uri(), t, {topic(t, "auth/resp")});
  // The first poll at start brings version 1: every card active.
  const json first = ask_until_approved(c, t, cards[150], "w");
  ASSERT_EQ(first["reason"], "ok") << gw.log();

  // 1 000 requests a second for 7 s, round robin over the cards; the delta (50 cards lost)
  // is offered after one second and applied at the next poll.
  constexpr int kRate = 1000;
  constexpr int kSeconds = 7;
  constexpr std::size_t kChanged = 50;
  std::map<std::string, std::size_t> card_of;  // req_id -> card index
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kRate * kSeconds; ++i) {
    if (i == kRate) feed.offer_delta(kChanged);
    const std::size_t k = static_cast<std::size_t>(i) % cards.size();
    const std::string id = "q" + std::to_string(i);
    card_of[id] = k;
    c.publish(topic(t, "auth/req"), auth_req_json(t, id, cards[k], 0, "library"));
    std::this_thread::sleep_until(t0 + std::chrono::microseconds(1'000'000LL * (i + 1) / kRate));
  }
  // Collect every answer, in arrival order (the gateway answers in order per terminal).
  std::vector<std::pair<std::size_t, std::string>> answers;
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (answers.size() < card_of.size() && std::chrono::steady_clock::now() < deadline) {
    auto r = c.wait_for([](const Received&) { return true; }, 1s);
    if (!r) continue;
    json j = json::parse(r->payload);
    auto it = card_of.find(j.value("req_id", ""));
    if (it != card_of.end()) answers.emplace_back(it->second, j.value("reason", ""));
  }
  ASSERT_EQ(answers.size(), card_of.size()) << "every request answered";

  std::map<std::size_t, bool> turned_lost;
  std::size_t wrong = 0, lost_answers = 0;
  for (const auto& [k, reason] : answers) {
    if (k >= kChanged) {
      if (reason != "ok") ++wrong;  // untouched cards are always approved
      continue;
    }
    if (reason == "card_lost") {
      turned_lost[k] = true;
      ++lost_answers;
    } else if (reason != "ok" || turned_lost[k]) {
      ++wrong;  // a changed card goes from ok to card_lost once and never back
    }
  }
  EXPECT_EQ(wrong, 0u);
  EXPECT_EQ(turned_lost.size(), kChanged) << "the delta was applied during the run";
  EXPECT_GT(lost_answers, 0u);
  std::printf("update under load: %zu answers, %zu card_lost after the delta, 0 wrong\n",
              answers.size(), lost_answers);
}

TEST_F(EngineTest, ATamperedSnapshotIsRefusedAndTheOldListKeepsServing) {
  const auto cards = wulong_cards(20);
  GatewayFiles f = files("");
  FeedServer feed(tokens_of(cards, f.key_file));
  f = files(feed_config(feed.url()));
  Gateway gw(f);
  ASSERT_TRUE(gw.wait_connected(10s)) << gw.log();
  const std::string t = "lib-02";
  TestClient c(broker_->uri(), t, {topic(t, "auth/resp")});
  const json r = ask_until_approved(c, t, cards[3], "a");
  ASSERT_EQ(r["reason"], "ok");

  feed.offer_tampered_snapshot();
  const auto deadline = std::chrono::steady_clock::now() + 12s;
  while (feed.snapshots() < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(100ms);
  ASSERT_GE(feed.snapshots(), 2) << "the gateway fetched the tampered snapshot";
  std::this_thread::sleep_for(300ms);
  EXPECT_NE(gw.log().find("feed_bad_signature"), std::string::npos) << gw.log();
  EXPECT_EQ(ask(c, t, auth_req_json(t, "after", cards[3], 0, "library"), "after")["reason"], "ok");
  std::string out;
  ASSERT_EQ(run_command({bin_dir() + "/yktgw", "--config", f.config, "cardlist", "stats"}, &out),
            0);
  EXPECT_NE(out.find("\"version\":1"), std::string::npos) << out;
}

// ---------------------------------------------------------------------------------------------
// Dynamic QR codes through MQTT: valid, replayed, expired, tampered, unknown issuer.

TEST_F(EngineTest, QrCodesAreVerifiedWithTheIssuerKeys) {
  GatewayFiles f =
      files("\n[credentials]\necard_key_dir = \"" + source_dir() + "/config/dev-keys/ecard\"\n");
  Gateway gw(f);
  ASSERT_TRUE(gw.wait_connected(10s)) << gw.log();
  const std::string key = source_dir() + "/config/dev-keys/ecard/50-k1.key.pem";
  auto mint = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv{bin_dir() + "/ykt-platform-sim",
                                  "issue-qr",
                                  "--key-file",
                                  key,
                                  "--region",
                                  "50",
                                  "--kid",
                                  "k1",
                                  "--card",
                                  wulong_cards(1)[0],
                                  "--hmac-key-file",
                                  f.key_file};
    argv.insert(argv.end(), extra.begin(), extra.end());
    std::string out;
    EXPECT_EQ(run_command(argv, &out), 0) << out;
    return first_line(out);
  };
  const std::string t = "lib-03";
  TestClient c(broker_->uri(), t, {topic(t, "auth/resp")});
  int n = 0;
  auto scan = [&](const std::string& qr) {
    const std::string id = "qr" + std::to_string(++n);
    return ask(c, t, qr_req_json(t, id, qr, "library"), id);
  };
  const std::string good = mint({});
  ASSERT_TRUE(good.starts_with("YKT1.")) << good;
  json ok = scan(good);
  EXPECT_EQ(ok["decision"], "approve") << ok.dump();
  EXPECT_EQ(ok.value("card_masked", "").find("********"), 6u) << ok.dump();
  EXPECT_EQ(scan(good)["reason"], "replayed");
  EXPECT_EQ(scan(mint({"--issued-offset-s", "-300", "--valid-s", "60"}))["reason"], "expired");
  EXPECT_EQ(scan(mint({"--issued-offset-s", "300"}))["reason"], "not_yet_valid");
  EXPECT_EQ(scan(mint({"--tamper"}))["reason"], "bad_signature");
  EXPECT_EQ(scan("YKT1.not-a-code")["reason"], "malformed");
  // A key the gateway does not have (Guizhou, region 52).
  std::string out;
  ASSERT_EQ(run_command({bin_dir() + "/ykt-platform-sim", "issue-qr", "--key-file", key, "--region",
                         "52", "--kid", "k9", "--token", std::string(64, 'a')},
                        &out),
            0);
  EXPECT_EQ(scan(first_line(out))["reason"], "unknown_issuer");
}

// The per-terminal MAC over MQTT: a terminal whose scenario requires one is declined
// mac_required without it and bad_mac with a wrong one, and approved with the right one (the
// development key of ct-0001 in config/dev-keys/terminal-mac.keys).
TEST_F(EngineTest, TerminalMacIsRequiredCheckedAndAccepted) {
  // The key file must be private to the gateway's user; git does not keep that mode.
  const std::string keys = dir_ + "/terminal-mac.keys";
  write_file(keys, read_file(source_dir() + "/config/dev-keys/terminal-mac.keys"), 0600);
  std::string key_hex;
  {
    std::istringstream in(read_file(keys));
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("ct-0001 ", 0) == 0) key_hex = line.substr(8);
    }
  }
  std::string key;
  ASSERT_TRUE(decode_hex(key_hex, key)) << "no key for ct-0001 in the dev key file";
  GatewayFiles f = files("\n[credentials]\nterminal_mac_keys_file = \"" + keys + "\"\n");
  Gateway gw(f);
  ASSERT_TRUE(gw.wait_connected(10s)) << gw.log();

  const std::string t = "ct-0001";
  const std::string card = wulong_cards(1)[0];
  TestClient c(broker_->uri(), t, {topic(t, "auth/resp")});
  // The MAC a terminal holding the key computes for this request.
  auto mac_for = [&](const std::string& req_id) {
    AuthRequest r;
    r.req_id = req_id;
    r.terminal = t;
    r.scenario = "canteen_mac";
    r.ts_ms = 1764379200000;
    r.credential.type = CredentialType::card;
    r.credential.card_no = card;
    r.amount_fen = 800;
    return terminal_mac_hex(key, mac_canonical_form(r));
  };

  json none = ask(c, t, auth_req_json(t, "m1", card, 800, "canteen_mac"), "m1");
  EXPECT_EQ(none["decision"], "decline") << none.dump();
  EXPECT_EQ(none["reason"], "mac_required") << none.dump();

  std::string wrong = mac_for("m2");
  ASSERT_EQ(wrong.size(), 64u);
  wrong[0] = wrong[0] == '0' ? '1' : '0';
  json bad = ask(c, t, mac_req_json(t, "m2", card, 800, "canteen_mac", wrong), "m2");
  EXPECT_EQ(bad["decision"], "decline") << bad.dump();
  EXPECT_EQ(bad["reason"], "bad_mac") << bad.dump();

  // The right key over another request's canonical form is wrong too: the MAC binds req_id.
  json other = ask(c, t, mac_req_json(t, "m3", card, 800, "canteen_mac", mac_for("m2")), "m3");
  EXPECT_EQ(other["reason"], "bad_mac") << other.dump();

  json ok = ask(c, t, mac_req_json(t, "m4", card, 800, "canteen_mac", mac_for("m4")), "m4");
  EXPECT_EQ(ok["decision"], "approve") << ok.dump();
  EXPECT_EQ(ok["amount_fen"], 800) << ok.dump();
}

// 渝快码 (ykm_qr) over MQTT: a code minted with the ykm issuer key is approved; a code signed with
// the e-card issuer key but presented as ykm_qr is declined. The two code types have separate
// key sets (docs/qr-code.md §8): an e-card key id the ykm keys do not have is unknown_issuer,
// and an e-card signature under the ykm key's id is bad_signature.
TEST_F(EngineTest, YkmCodesAreVerifiedWithTheYkmKeysOnly) {
  GatewayFiles f = files("\n[credentials]\necard_key_dir = \"" + source_dir() +
                         "/config/dev-keys/ecard\"\nykm_key_dir = \"" + source_dir() +
                         "/config/dev-keys/ykm\"\n");
  Gateway gw(f);
  ASSERT_TRUE(gw.wait_connected(10s)) << gw.log();
  auto mint = [&](const std::string& key_file, const std::string& kid) {
    std::string out;
    EXPECT_EQ(run_command({bin_dir() + "/ykt-platform-sim", "issue-qr", "--key-file",
                           source_dir() + "/config/dev-keys/" + key_file, "--region", "50", "--kid",
                           kid, "--card", wulong_cards(1)[0], "--hmac-key-file", f.key_file},
                          &out),
              0)
        << out;
    return first_line(out);
  };
  const std::string t = "lib-04";
  TestClient c(broker_->uri(), t, {topic(t, "auth/resp")});
  int n = 0;
  auto scan = [&](const std::string& qr, const std::string& type) {
    const std::string id = "y" + std::to_string(++n);
    return ask(c, t, qr_req_json(t, id, qr, "library", type), id);
  };

  const std::string ykm = mint("ykm/50-y1.key.pem", "y1");
  ASSERT_TRUE(ykm.starts_with("YKT1.")) << ykm;
  json ok = scan(ykm, "ykm_qr");
  EXPECT_EQ(ok["decision"], "approve") << ok.dump();
  EXPECT_EQ(ok.value("card_masked", "").find("********"), 6u) << ok.dump();
  EXPECT_EQ(scan(ykm, "ykm_qr")["reason"], "replayed");

  // A valid e-card code is not a 渝快码: its issuer key is not among the ykm keys.
  const std::string ecard = mint("ecard/50-k1.key.pem", "k1");
  json foreign = scan(ecard, "ykm_qr");
  EXPECT_EQ(foreign["decision"], "decline") << foreign.dump();
  EXPECT_EQ(foreign["reason"], "unknown_issuer") << foreign.dump();
  // Signed with the e-card key under the ykm key's id: the ykm key does not verify it.
  json forged = scan(mint("ecard/50-k1.key.pem", "y1"), "ykm_qr");
  EXPECT_EQ(forged["decision"], "decline") << forged.dump();
  EXPECT_EQ(forged["reason"], "bad_signature") << forged.dump();
  // The other way round too: a 渝快码 is not an e-card code.
  json swapped = scan(mint("ykm/50-y1.key.pem", "y1"), "ecard_qr");
  EXPECT_EQ(swapped["reason"], "unknown_issuer") << swapped.dump();
  // The same e-card code is still good where it belongs.
  EXPECT_EQ(scan(ecard, "ecard_qr")["decision"], "approve");
}

// Construction-site clock-in (gate.clock_in) over MQTT: the gateway records an approved
// clock-in as one attendance row in records.db (token and masked number only) and forwards it
// to the district platform; a declined tap records nothing, and the terminal sending the same
// request again does not make a second row.
TEST_F(EngineTest, AClockInIsRecordedAsAttendanceAndForwardedADeclineIsNot) {
  GatewayFiles f = files("");  // writes the HMAC key the platform needs too
  DistrictPlatform platform(dir_ + "/platform", f.key_file);
  f = files(platform.gateway_toml());
  Gateway gw(f);
  ASSERT_TRUE(gw.wait_connected(10s)) << gw.log();
  const std::string card = wulong_cards(1)[0];
  TestClient site(broker_->uri(), "gt-01", {topic("gt-01", "auth/resp")});
  TestClient crew(broker_->uri(), "gc-01", {topic("gc-01", "auth/resp")});

  const std::string clock_in = auth_req_json("gt-01", "c1", card, 0, "gate_site");
  json ok = ask(site, "gt-01", clock_in, "c1");
  ASSERT_EQ(ok["decision"], "approve") << ok.dump();
  EXPECT_EQ(ok["rule"], "gate.clock_in") << ok.dump();
  // Not a site worker: declined, no attendance.
  json no = ask(crew, "gc-01", auth_req_json("gc-01", "d1", card, 0, "gate_crew"), "d1");
  EXPECT_EQ(no["decision"], "decline") << no.dump();
  EXPECT_EQ(no["reason"], "group_not_allowed") << no.dump();
  // The terminal did not see the answer and asks again: the same clock-in, not a second one.
  json again = ask(site, "gt-01", clock_in, "c1");
  EXPECT_EQ(again["decision"], "approve") << again.dump();

  const std::string records_db = f.data_dir + "/records.db";
  const std::string attendance =
      "SELECT terminal, site, scenario, service_item, card_token, card_masked, amount_fen, "
      "result, txn_id FROM txn WHERE kind = 'attendance'";
  std::vector<std::vector<std::string>> rows;
  for (int i = 0; i < 100 && rows.empty(); ++i) {
    rows = query(records_db, attendance);
    if (rows.empty()) std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(rows.size(), 1u);
  const auto& r = rows[0];
  EXPECT_EQ(r[0], "gt-01");
  EXPECT_EQ(r[1], kSite);
  EXPECT_EQ(r[2], "gate_site");
  EXPECT_EQ(r[3], "5");
  EXPECT_EQ(r[4].size(), 64u);                   // the HMAC-SM3 token
  EXPECT_EQ(r[5].find("********"), 6u) << r[5];  // masked, never the number
  EXPECT_EQ(r[5].find(card), std::string::npos);
  EXPECT_EQ(r[6], "0");
  EXPECT_EQ(r[7], "approved");
  EXPECT_TRUE(r[8].starts_with("attendance@")) << r[8];
  // Nothing else was stored: no row for the declined tap, no second clock-in.
  EXPECT_EQ(query(records_db, "SELECT count(*) FROM txn")[0][0], "1");
  EXPECT_EQ(query(records_db, "SELECT count(*) FROM txn WHERE terminal = 'gc-01'")[0][0], "0");

  // At the district platform, as an attendance record.
  long long at_platform = 0;
  for (int i = 0; i < 100 && at_platform != 1; ++i) {
    at_platform = platform.count("gw-test", "attendance").first;
    if (at_platform != 1) std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(at_platform, 1);
  EXPECT_EQ(platform.count("gw-test", "txn").first, 0);
  EXPECT_EQ(platform.count("gw-test"), (std::pair<long long, long long>{1, 0}));
  const auto received = query(platform.db(),
                              "SELECT terminal, scenario, card_masked FROM received WHERE kind = "
                              "'attendance'");
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0][0], "gt-01");
  EXPECT_EQ(received[0][1], "gate_site");
  EXPECT_EQ(received[0][2], r[5]);
}

// The disk quota is one rule for every record the gateway writes. records.db is past the quota
// before the gateway starts (data the platforms have not taken yet): a clock-in is still decided
// and answered by the policy, but no attendance row is written; the engine counts it apart as
// refused for the quota and the warning carries the masked number, never the card number.
TEST_F(EngineTest, AtTheDiskQuotaAClockInIsAnsweredButNoAttendanceIsWritten) {
  GatewayFiles f = files("\n[store]\ndisk_quota_mb = 1\n");
  const std::string records_db = f.data_dir + "/records.db";
  std::filesystem::create_directories(f.data_dir);
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(records_db.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "CREATE TABLE filler (b BLOB); "
                           "INSERT INTO filler VALUES (zeroblob(2 * 1024 * 1024));",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  Gateway gw(f);
  ASSERT_TRUE(gw.wait_connected(10s)) << gw.log();
  const std::string card = wulong_cards(1)[0];
  TestClient site(broker_->uri(), "gt-01", {topic("gt-01", "auth/resp")});
  json ok = ask(site, "gt-01", auth_req_json("gt-01", "c1", card, 0, "gate_site"), "c1");
  ASSERT_EQ(ok["decision"], "approve") << ok.dump();
  EXPECT_EQ(ok["rule"], "gate.clock_in") << ok.dump();

  httplib::Client status("127.0.0.1", f.status_port);
  json s;
  for (int i = 0; i < 100; ++i) {
    auto r = status.Get("/api/v1/status");
    if (r && r->status == 200) {
      s = json::parse(r->body);
      if (s["engine"]["attendance"]["refused_quota"] == 1) break;
    }
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(s["engine"]["attendance"]["refused_quota"], 1) << s.dump();
  EXPECT_EQ(s["engine"]["attendance"]["stored"], 0) << s.dump();
  EXPECT_EQ(s["engine"]["attendance"]["failed"], 0) << s.dump();
  bool alarm = false;
  for (const auto& a : s["alarms"]) alarm = alarm || a["code"] == "disk_quota";
  EXPECT_TRUE(alarm) << s.dump();
  EXPECT_EQ(query(records_db, "SELECT count(*) FROM txn")[0][0], "0");
  const std::string log = gw.log();
  const auto line = log.find("attendance record not written: disk quota reached terminal=gt-01");
  ASSERT_NE(line, std::string::npos) << log;
  EXPECT_NE(log.find("card=" + ok["card_masked"].get<std::string>(), line), std::string::npos)
      << log;
  EXPECT_EQ(log.find(card), std::string::npos) << "the card number reached the log";
}

}  // namespace
}  // namespace yktgw::testing
