// The status server of the real gateway: figures on the API and /metrics against what
// yktgw-sim sent through a real Mosquitto, terminals going offline (their own status and the
// broker's last will), a live district link, and the security rules (non-loopback bind without
// token, Host header, bearer token).

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "tests/integration/harness.h"

namespace yktgw::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

const std::string kSite = "xiangkou";

std::string topic(const std::string& terminal, const std::string& leaf) {
  return "ykt/v1/" + kSite + "/" + terminal + "/" + leaf;
}

long long now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool has_long_digit_run(const std::string& text) {
  int run = 0;
  for (char c : text) {
    run = (c >= '0' && c <= '9') ? run + 1 : 0;
    if (run >= 16) return true;
  }
  return false;
}

// The pages the status server renders.
const char* const kPages[] = {
    "/",           "/index.html",   "/live.html", "/terminals.html", "/outbox.html",
    "/depth.html", "/assets/app.js"};

// The value of the sample line `series` in a /metrics body; -1 when absent.
double metric(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

class StatusE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = make_temp_dir(std::string("status-") + info->name());
    broker_ = std::make_unique<Broker>(dir_);
  }

  // `yktgw-sim run` against this broker and site with the population start_gateway() lists
  // (seed 42, 300 cards): `terminals` terminals at `rate` messages/s for `duration` s, then `extra`.
  std::vector<std::string> sim_run(const std::string& terminals, const std::string& rate,
                                   const std::string& duration,
                                   const std::vector<std::string>& extra = {}) const {
    std::vector<std::string> args{bin_dir() + "/yktgw-sim", "run", "--broker", broker_->uri(),
                                  "--site", kSite, "--terminals", terminals, "--rate", rate,
                                  "--duration", duration, "--seed", "42", "--cards", "300",
                                  "--quiet"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  // Starts a gateway whose card list is the simulator's population (seed 42, 300 cards).
  // `port`: the status port `extra` sets, when it sets [status].
  void start_gateway(const std::string& extra = "", int port = 0) {
    files_ = write_gateway_config(dir_, broker_->uri(), kSite, extra);
    if (port != 0) files_.status_port = port;
    const std::string csv = dir_ + "/cards.csv";
    std::string out;
    ASSERT_EQ(run_command({bin_dir() + "/yktgw-sim", "population", "--seed", "42", "--cards", "300",
                           "--out", csv},
                          &out),
              0)
        << out;
    ASSERT_EQ(
        run_command({bin_dir() + "/yktgw", "--config", files_.config, "cardlist", "import", csv},
                    &out),
        0)
        << out;
    gateway_ = std::make_unique<Gateway>(files_);
    ASSERT_TRUE(gateway_->wait_connected(10s)) << gateway_->log();
    ASSERT_TRUE(wait_port(files_.status_port, 5s)) << gateway_->log();
    http_ = std::make_unique<httplib::Client>("127.0.0.1", files_.status_port);
    http_->set_read_timeout(10, 0);
  }

  // No page the server renders holds a run of 16 digits or more.
  void expect_no_long_digit_run_on_pages() {
    for (const char* path : kPages) {
      auto r = http_->Get(path);
      ASSERT_TRUE(r) << path;
      EXPECT_EQ(r->status, 200) << path;
      EXPECT_FALSE(has_long_digit_run(r->body)) << path;
    }
  }

  json get_json(const std::string& path) {
    auto r = http_->Get(path.c_str());
    if (!r || r->status != 200) {
      ADD_FAILURE() << path << " -> "
                    << (r ? std::to_string(r->status) + " " + r->body : "no answer");
      return json();
    }
    return json::parse(r->body);
  }

  std::string dir_;
  std::unique_ptr<Broker> broker_;
  GatewayFiles files_;
  std::unique_ptr<Gateway> gateway_;
  std::unique_ptr<httplib::Client> http_;
};

TEST_F(StatusE2E, ApiAndMetricsEqualWhatTheSimulatorSent) {
  start_gateway();
  std::string out;
  ASSERT_EQ(run_command(sim_run("12", "60", "3", {"--txn-ratio", "0.8"}), &out), 0)
      << out;
  // The summary is the last line that is a JSON object (stderr is mixed in).
  std::string summary;
  {
    std::istringstream lines(out);
    std::string line;
    while (std::getline(lines, line))
      if (!line.empty() && line.front() == '{') summary = line;
  }
  ASSERT_FALSE(summary.empty()) << out;
  const json sim = json::parse(summary);
  ASSERT_GT(sim["approved"].get<int>(), 20) << sim.dump();
  ASSERT_GT(sim["declined"].get<int>(), 0) << sim.dump();

  // A few records by other means, so depth has more than physical cards to split.
  TestClient pos(broker_->uri(), "pos-extra", {topic("pos-extra", "txn/ack")});
  const long long ts = now_ms();
  const std::pair<std::string, std::string> others[] = {{"ecard_qr", R"("qr":"ecard-code-1")"},
                                                        {"ecard_qr", R"("qr":"ecard-code-2")"},
                                                        {"ykm_qr", R"("qr":"ykm-code-1")"},
                                                        {"other", R"("method":"cash")"}};
  int n = 0;
  for (const auto& [type, field] : others) {
    const std::string id = "pos-extra-" + std::to_string(++n);
    pos.publish(topic("pos-extra", "txn"),
                R"({"v":1,"txn_id":")" + id + R"(","req_id":"r-)" + id +
                    R"(","terminal":"pos-extra","scenario":"canteen","ts":)" + std::to_string(ts) +
                    R"(,"credential":{"type":")" + type + "\"," + field +
                    R"(},"amount_fen":500,"result":"approved"})");
    ASSERT_TRUE(pos.wait_for(
        [&](const Received& m) { return m.payload.find(id) != std::string::npos; }, 5s));
  }

  const json s = get_json("/api/v1/status");
  ASSERT_TRUE(s.is_object());
  EXPECT_EQ(s["gateway"]["id"], "gw-test");
  EXPECT_EQ(s["gateway"]["site"], kSite);
  EXPECT_EQ(s["broker"]["connected"], true);
  EXPECT_EQ(s["auth"]["requests"], sim["sent"]);
  const long long timeouts = sim["timeouts"].get<long long>();
  if (timeouts == 0) {
    EXPECT_EQ(s["auth"]["approved"], sim["approved"]);
    EXPECT_EQ(s["auth"]["declined"], sim["declined"]);
    EXPECT_EQ(s["auth"]["declined_by_reason"], sim["decline_reasons"]);
  } else {
    // On a loaded machine the simulator may give up on a few answers the gateway still sent:
    // those were decided, just not counted by the simulator.
    const long long approved = s["auth"]["approved"].get<long long>();
    EXPECT_GE(approved, sim["approved"].get<long long>());
    EXPECT_LE(approved, sim["approved"].get<long long>() + timeouts);
    EXPECT_EQ(approved + s["auth"]["declined"].get<long long>(), sim["sent"].get<long long>());
  }
  EXPECT_EQ(s["txn"]["stored"].get<long long>(), sim["txn_stored"].get<long long>() + 4);
  EXPECT_EQ(s["txn"]["duplicate"], sim["txn_duplicate"]);
  EXPECT_EQ(s["txn"]["rejected"], sim["txn_rejected"]);
  EXPECT_GT(s["auth"]["latency_p99_ms"].get<double>(), 0.0);
  EXPECT_EQ(s["cardlist"]["entries"].get<int>() > 0, true);

  // The simulator said goodbye: its 12 terminals are offline, the extra one online.
  const json t = get_json("/api/v1/terminals");
  EXPECT_EQ(t["total"], 13);
  EXPECT_EQ(t["online"], 1);
  int sim_rows = 0;
  for (const auto& row : t["terminals"]) {
    if (row["terminal"].get<std::string>().rfind("sim-", 0) != 0) continue;
    ++sim_rows;
    EXPECT_EQ(row["state"], "offline") << row.dump();
    EXPECT_EQ(row["scenario"], "canteen");
    EXPECT_GT(row["messages"].get<int>(), 0);
  }
  EXPECT_EQ(sim_rows, 12);

  auto m = http_->Get("/metrics");
  ASSERT_TRUE(m);
  ASSERT_EQ(m->status, 200);
  EXPECT_EQ(metric(m->body, "yktgw_auth_decisions_total{decision=\"approve\"}"),
            s["auth"]["approved"].get<double>());
  EXPECT_EQ(metric(m->body, "yktgw_auth_decisions_total{decision=\"decline\"}"),
            s["auth"]["declined"].get<double>());
  for (const auto& [reason, count] : s["auth"]["declined_by_reason"].items()) {
    EXPECT_EQ(metric(m->body, "yktgw_auth_declines_total{reason=\"" + reason + "\"}"),
              count.get<double>())
        << reason;
  }
  EXPECT_EQ(metric(m->body, "yktgw_auth_latency_seconds_count"), sim["sent"].get<double>());
  EXPECT_EQ(metric(m->body, "yktgw_txn_records_total{outcome=\"stored\"}"),
            sim["txn_stored"].get<double>() + 4);
  EXPECT_EQ(metric(m->body, "yktgw_terminals{state=\"offline\"}"), 12);
  // No card or citizen number (16 digits and more) in any answer.
  EXPECT_FALSE(has_long_digit_run(m->body));
  EXPECT_FALSE(has_long_digit_run(s.dump()));
  EXPECT_FALSE(has_long_digit_run(t.dump()));

  // Depth: the approved records of today, split by credential type, equal the store's rows.
  const std::string db = files_.data_dir + "/records.db";
  const json d = get_json("/api/v1/depth");
  const long long approved_cards =
      sqlite_value(db, "SELECT COUNT(*) FROM txn WHERE result='approved' AND cred_type='card'");
  ASSERT_GT(approved_cards, 0);
  EXPECT_EQ(d["all"]["day"]["card"], approved_cards);
  EXPECT_EQ(d["all"]["day"]["ecard_qr"], 2);
  EXPECT_EQ(d["all"]["day"]["ykm_qr"], 1);
  EXPECT_EQ(d["all"]["day"]["other"], 1);
  EXPECT_EQ(d["all"]["day"]["total"], approved_cards + 4);
  EXPECT_EQ(d["all"]["month"]["total"], approved_cards + 4);
  bool found = false;
  for (const auto& it : d["items"]) {
    if (it["item"] != 16) continue;  // the harness's canteen scenario maps to item 16
    found = true;
    EXPECT_EQ(it["day"]["total"], approved_cards + 4);
    const double share =
        100.0 * static_cast<double>(approved_cards + 2) / static_cast<double>(approved_cards + 4);
    EXPECT_NEAR(it["day"]["card_share_percent"].get<double>(), share, 0.05);
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(d["items"].size(), 47U) << "every item of the catalogue";
  EXPECT_FALSE(has_long_digit_run(d.dump()));
  const json o = get_json("/api/v1/outbox");
  ASSERT_TRUE(o.is_object());
  EXPECT_FALSE(has_long_digit_run(o.dump()));
  expect_no_long_digit_run_on_pages();
}

TEST_F(StatusE2E, DeadLettersFromTheDistrictPlatformShowOnTheOutboxApiAndMetrics) {
  // A district platform that rejects every batch as invalid.
  std::string out;
  ASSERT_EQ(run_command({bin_dir() + "/ykt-platform-sim", "keygen", "--out", dir_ + "/server.key",
                         "--force"},
                        &out),
            0)
      << out;
  const std::string server_public = out.substr(0, out.find('\n'));
  ASSERT_EQ(
      run_command({bin_dir() + "/yktgw", "keygen", "curve", "--out", dir_ + "/client.key"}, &out),
      0)
      << out;
  const int zmq_port = free_port();
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(zmq_port);
  write_gateway_config(dir_, broker_->uri(), kSite);  // the HMAC key the platform reads
  Process platform =
      Process::spawn({bin_dir() + "/ykt-platform-sim", "serve", "--zmq", endpoint,
                      "--server-key-file", dir_ + "/server.key", "--hmac-key-file",
                      dir_ + "/hmac.key", "--http", "off", "--population-seed", "42", "--cards",
                      "300", "--db", dir_ + "/platform.db", "--fail-400", "1"},
                     dir_ + "/platform.out");
  ASSERT_TRUE(wait_port(zmq_port, 5s));
  start_gateway("\n[district]\nendpoint = \"" + endpoint + "\"\nserver_public_key = \"" +
                server_public + "\"\nclient_key_file = \"" + dir_ +
                "/client.key\"\nheartbeat_interval_ms = 200\n\n[upstream]\nbatch_linger_ms = 20\n");

  // Records without a card go to the district platform.
  TestClient pos(broker_->uri(), "pos-01", {topic("pos-01", "txn/ack")});
  for (int i = 1; i <= 3; ++i) {
    const std::string id = "cash-" + std::to_string(i);
    pos.publish(topic("pos-01", "txn"),
                R"({"v":1,"txn_id":")" + id + R"(","req_id":"r-)" + id +
                    R"(","terminal":"pos-01","scenario":"canteen","ts":)" +
                    std::to_string(now_ms()) +
                    R"(,"credential":{"type":"other","method":"cash"},"amount_fen":800,)"
                    R"("result":"approved"})");
    ASSERT_TRUE(pos.wait_for(
        [&](const Received& m) { return m.payload.find(id) != std::string::npos; }, 5s));
  }
  // And two card records of Chongqing cards (district too): their numbers must not come back
  // through the dead letters' reason or the link's last error.
  const std::string cards[] = {citizen_number("50015619900101123"),
                               citizen_number("50015619850202456")};
  for (int i = 0; i < 2; ++i) {
    const std::string id = "card-" + std::to_string(i + 1);
    std::string payload = txn_json("pos-01", id, cards[i]);
    const std::string fixed_ts = "\"ts\":1764379200000";
    payload.replace(payload.find(fixed_ts), fixed_ts.size(), "\"ts\":" + std::to_string(now_ms()));
    pos.publish(topic("pos-01", "txn"), payload);
    ASSERT_TRUE(pos.wait_for(
        [&](const Received& m) { return m.payload.find(id) != std::string::npos; }, 5s));
  }
  // Each batch the platform rejects becomes a dead letter; wait until all five records are in
  // one (batches may carry one record each).
  auto records_in_letters = [](const json& o) {
    long long n = 0;
    for (const auto& d : o["dead_letters"]) n += d["records"].get<long long>();
    return n;
  };
  json o;
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (std::chrono::steady_clock::now() < deadline) {
    o = get_json("/api/v1/outbox");
    if (o.is_object() && records_in_letters(o) >= 5) break;
    std::this_thread::sleep_for(200ms);
  }
  ASSERT_TRUE(o.is_object());
  ASSERT_FALSE(o["dead_letters"].empty()) << o.dump() << "\n" << gateway_->log();
  for (const auto& d : o["dead_letters"]) {
    EXPECT_EQ(d["destination"], "district");
    EXPECT_EQ(d["state"], "dead");
    EXPECT_FALSE(d["reason"].get<std::string>().empty());
  }
  const long long letter_records = records_in_letters(o);
  EXPECT_EQ(letter_records, 5);
  json district;
  for (const auto& d : o["destinations"])
    if (d["destination"] == "district") district = d;
  ASSERT_TRUE(district.is_object()) << o.dump();
  EXPECT_EQ(district["dead_letters"].get<long long>(), o["dead_letters"].size());
  EXPECT_GE(district["batches_rejected"].get<long long>(), 1);
  // No card number (16 digits and more) in what the outbox shows: reasons, last error, all.
  for (const auto& d : o["dead_letters"]) EXPECT_FALSE(has_long_digit_run(d["reason"].dump()));
  EXPECT_FALSE(district["last_error"].get<std::string>().empty()) << district.dump();
  EXPECT_FALSE(has_long_digit_run(district["last_error"].get<std::string>()));
  for (const auto& card : cards) EXPECT_EQ(o.dump().find(card.substr(6, 10)), std::string::npos);
  EXPECT_FALSE(has_long_digit_run(o.dump()));
  expect_no_long_digit_run_on_pages();

  const json s = get_json("/api/v1/status");
  bool alarm = false;
  for (const auto& a : s["alarms"]) alarm = alarm || a["code"] == "dead_letters";
  EXPECT_TRUE(alarm) << s.dump();
  auto m = http_->Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(metric(m->body, "yktgw_outbox_dead_letters{destination=\"district\"}"),
            static_cast<double>(o["dead_letters"].size()));
  EXPECT_EQ(metric(m->body, "yktgw_alarm_active{code=\"dead_letters\"}"), 1);
  EXPECT_EQ(metric(m->body, "yktgw_upstream_link_up{destination=\"district\"}"), 1);
  platform.stop();
}

// A live district platform: the link shows connected with a recent ack, and the backlog of
// what the simulator sent drains to 0 on the API.
TEST_F(StatusE2E, LiveDistrictLinkShowsConnectedAckedAndDrained) {
  write_gateway_config(dir_, broker_->uri(), kSite);  // the HMAC key the platform reads
  DistrictPlatform platform(dir_ + "/platform", dir_ + "/hmac.key");
  const long long before = now_ms();
  start_gateway(platform.gateway_toml());
  std::string out;
  ASSERT_EQ(run_command(sim_run("6", "60", "2", {"--txn-ratio", "1"}), &out), 0)
      << out;
  json district, s;
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (std::chrono::steady_clock::now() < deadline) {
    s = get_json("/api/v1/status");
    district = json();
    for (const auto& l : s["links"])
      if (l["destination"] == "district") district = l;
    if (district.is_object() && district["backlog"] == 0 &&
        district["records_delivered"] == s["txn"]["stored"])
      break;
    std::this_thread::sleep_for(200ms);
  }
  ASSERT_TRUE(district.is_object()) << s.dump();
  ASSERT_GT(s["txn"]["stored"].get<long long>(), 0);
  EXPECT_EQ(district["connected"], true) << district.dump();
  EXPECT_EQ(district["state"], "idle") << district.dump();
  EXPECT_EQ(district["backlog"], 0) << district.dump();
  EXPECT_EQ(district["in_flight"], 0) << district.dump();
  EXPECT_EQ(district["records_delivered"], s["txn"]["stored"]) << district.dump();
  EXPECT_GE(district["last_ack_ms"].get<long long>(), before) << district.dump();
  EXPECT_LE(district["last_ack_ms"].get<long long>(), now_ms()) << district.dump();
  EXPECT_EQ(district["dead_letters"], 0);
  // last_error keeps the link's latest trouble after it recovers (a heartbeat missed on a slow
  // box reads "link down (no heartbeat answer)"): the state above is what says it is healthy now.
  EXPECT_EQ(district["batches_rejected"], 0) << district.dump();
  // The outbox API shows the same destination, and the platform holds every record.
  const json o = get_json("/api/v1/outbox");
  json same;
  for (const auto& d : o["destinations"])
    if (d["destination"] == "district") same = d;
  EXPECT_EQ(same["backlog"], 0);
  EXPECT_EQ(same["last_ack_ms"], district["last_ack_ms"]);
  EXPECT_EQ(platform.count().first, s["txn"]["stored"].get<long long>());
  auto m = http_->Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(metric(m->body, "yktgw_upstream_link_up{destination=\"district\"}"), 1);
}

TEST_F(StatusE2E, TerminalGoingOfflineShowsWithinSeconds) {
  start_gateway();
  TestClient term(broker_->uri(), "gate-07", {});
  term.publish(topic("gate-07", "status"),
               R"({"v":1,"terminal":"gate-07","state":"online","kind":"gate","firmware":"2.1.0",)"
               R"("cardlist_version":3})",
               /*retained=*/true);
  auto state_of = [&]() -> std::string {
    const json t = get_json("/api/v1/terminals");
    for (const auto& row : t["terminals"])
      if (row["terminal"] == "gate-07") return row["state"];
    return "";
  };
  auto wait_state = [&](const std::string& want) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (state_of() == want) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  };
  ASSERT_TRUE(wait_state("online"));
  const json t = get_json("/api/v1/terminals");
  for (const auto& row : t["terminals"]) {
    if (row["terminal"] != "gate-07") continue;
    EXPECT_EQ(row["kind"], "gate");
    EXPECT_EQ(row["firmware"], "2.1.0");
    EXPECT_EQ(row["cardlist_version"], 3);
  }
  // What the broker publishes from the terminal's last will.
  term.publish(topic("gate-07", "status"), R"({"v":1,"terminal":"gate-07","state":"offline"})",
               /*retained=*/true);
  EXPECT_TRUE(wait_state("offline"));
}

// The broker's own last will: yktgw-sim terminals connect with the documented minimal offline
// message as a retained will (docs/terminal-protocol.md §9). Killed with SIGKILL they send no
// DISCONNECT and no offline status of their own; the broker publishes the wills when it sees
// the connections close.
TEST_F(StatusE2E, KilledTerminalsTurnOfflineThroughTheirLastWill) {
  start_gateway();
  TestClient watcher(broker_->uri(), "will-watcher", {"ykt/v1/" + kSite + "/+/status"});
  Process sim = Process::spawn(sim_run("3", "3", "120"), dir_ + "/sim.out");
  auto sim_states = [&]() {
    std::map<std::string, std::string> states;
    const json t = get_json("/api/v1/terminals");
    for (const auto& row : t["terminals"]) states[row["terminal"]] = row["state"];
    return states;
  };
  auto all_are = [&](const std::string& want) {
    const auto states = sim_states();
    if (states.size() != 3) return false;
    for (const auto& [id, st] : states)
      if (st != want) return false;
    return true;
  };
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline && !all_are("online"))
    std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(all_are("online")) << json(sim_states()).dump() << "\n"
                                 << read_file(dir_ + "/sim.out");
  watcher.drain();

  sim.signal(SIGKILL);
  ASSERT_TRUE(sim.wait(5s).has_value());
  const auto killed = std::chrono::steady_clock::now();
  deadline = killed + 5s;
  while (std::chrono::steady_clock::now() < deadline && !all_are("offline"))
    std::this_thread::sleep_for(100ms);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - killed);
  EXPECT_TRUE(all_are("offline")) << json(sim_states()).dump();
  std::printf("last will: 3 killed terminals offline on /api/v1/terminals after %lld ms\n",
              static_cast<long long>(took.count()));
  // What turned them offline is the broker's will, word for word the documented minimal one.
  for (const char* id : {"sim-0001", "sim-0002", "sim-0003"}) {
    const auto will =
        watcher.wait_for([&](const Received& m) { return m.topic == topic(id, "status"); }, 2s);
    ASSERT_TRUE(will.has_value()) << id;
    EXPECT_EQ(will->payload,
              std::string(R"({"v":1,"terminal":")") + id + R"(","state":"offline"})");
  }
}

TEST_F(StatusE2E, ReadyzFollowsTheBroker) {
  start_gateway();
  auto r = http_->Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  r = http_->Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  broker_->kill();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline && status != 503) {
    std::this_thread::sleep_for(100ms);
    r = http_->Get("/readyz");
    status = r ? r->status : 0;
  }
  ASSERT_EQ(status, 503);
  EXPECT_EQ(json::parse(r->body)["broker_connected"], false);
  r = http_->Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << "alive without the broker";
}

TEST_F(StatusE2E, NonLoopbackBindWithoutTokenRefusesToStart) {
  const int port = free_port();
  files_ = write_gateway_config(dir_, broker_->uri(), kSite,
                                "\n[status]\nlisten = \"0.0.0.0:" + std::to_string(port) + "\"\n");
  Gateway gw(files_);
  const auto code = gw.process().wait(10s);
  ASSERT_TRUE(code.has_value()) << "the gateway kept running: " << gw.log();
  EXPECT_NE(*code, 0);
  EXPECT_NE(gw.log().find("status.token"), std::string::npos) << gw.log();
}

TEST_F(StatusE2E, TokenRequiredOnANonLoopbackBind) {
  const int port = free_port();
  start_gateway(
      "\n[status]\nlisten = \"0.0.0.0:" + std::to_string(port) + "\"\ntoken = \"op-token-123\"\n",
      port);
  httplib::Client c("127.0.0.1", port);
  auto r = c.Get("/api/v1/status");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  r = c.Get("/metrics", {{"Authorization", "Bearer wrong"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  r = c.Get("/api/v1/status", {{"Authorization", "Bearer op-token-123"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["gateway"]["id"], "gw-test");
  r = c.Get("/index.html");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << "the page shell holds no data";
}

TEST_F(StatusE2E, WrongHostIs400) {
  start_gateway();
  const std::string port = std::to_string(files_.status_port);
  auto r = http_->Get("/api/v1/status", {{"Host", "rebind.attacker.example:" + port}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = http_->Get("/index.html", {{"Host", "rebind.attacker.example:" + port}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = http_->Get("/api/v1/status", {{"Host", "localhost:" + port}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

}  // namespace
}  // namespace yktgw::testing
