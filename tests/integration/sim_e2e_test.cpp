// yktgw-sim end to end: every terminal kind of config/policies.toml against the real gateway,
// the real ykt-platform-sim (district link and signed card-list feed of the same population)
// and a real Mosquitto; QR codes minted with the development issuer keys; buses that lose their
// link and upload their stored taps. The simulator's expectation model must agree with every
// decision, and every record must be acked.

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "tests/integration/harness.h"

namespace yktgw::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

const std::string kSite = "xiangkou";
constexpr const char* kCards = "2000";

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

bool wait_log(Gateway& gw, const std::string& needle, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (gw.log().find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

class SimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = make_temp_dir(std::string("sim-e2e-") + info->name());
    broker_ = std::make_unique<Broker>(dir_);
    std::string out;
    ASSERT_EQ(run_command({bin_dir() + "/ykt-platform-sim", "keygen", "--out", dir_ + "/server.key",
                           "--force"},
                          &out),
              0)
        << out;
    const std::string server_public = first_line(out);
    ASSERT_EQ(
        run_command({bin_dir() + "/yktgw", "keygen", "curve", "--out", dir_ + "/client.key"}, &out),
        0)
        << out;
    zmq_port_ = free_port();
    http_port_ = free_port();
    files_ = write_gateway_config(dir_, broker_->uri(), kSite);  // writes the HMAC key
    platform_ = Process::spawn(
        {bin_dir() + "/ykt-platform-sim", "serve", "--zmq",
         "tcp://127.0.0.1:" + std::to_string(zmq_port_), "--server-key-file", dir_ + "/server.key",
         "--hmac-key-file", files_.key_file, "--http", "127.0.0.1:" + std::to_string(http_port_),
         "--feed-key-file", source_dir() + "/config/dev-keys/platform-feed.key.pem",
         "--population-seed", "42", "--cards", kCards, "--db", ""},
        dir_ + "/platform.out");
    ASSERT_TRUE(wait_port(zmq_port_, 10s));
    ASSERT_TRUE(wait_port(http_port_, 10s));

    const std::string src = source_dir();
    files_ = write_gateway_config(
        dir_, broker_->uri(), kSite,
        "\n[district]\nendpoint = \"tcp://127.0.0.1:" + std::to_string(zmq_port_) +
            "\"\nserver_public_key = \"" + server_public + "\"\nclient_key_file = \"" + dir_ +
            "/client.key\"\nheartbeat_interval_ms = 200\nheartbeat_timeout_ms = 1500\n"
            "\n[cardlist]\nfeed_url = \"http://127.0.0.1:" +
            std::to_string(http_port_) + "\"\nplatform_public_key_file = \"" + src +
            "/config/dev-keys/platform-feed.pub.pem\"\n"
            "\n[credentials]\necard_key_dir = \"" +
            src + "/config/dev-keys/ecard\"\n" + "ykm_key_dir = \"" + src +
            "/config/dev-keys/ykm\"\n");
    // The policies the product ships, unchanged: the simulator reads the same file.
    write_file(files_.policies, read_file(src + "/config/policies.toml"));
    gateway_ = std::make_unique<Gateway>(files_);
    ASSERT_TRUE(gateway_->wait_connected(15s)) << gateway_->log();
    ASSERT_TRUE(wait_log(*gateway_, "card list feed applied", 20s)) << gateway_->log();
    // A few heartbeats, so the first online scenarios find the district link up.
    std::this_thread::sleep_for(1s);
  }

  void TearDown() override {
    gateway_.reset();
    platform_.stop();
  }

  std::vector<std::string> sim_args(const std::string& command,
                                    const std::string& policies = "") const {
    const std::string src = source_dir();
    return {bin_dir() + "/yktgw-sim",
            command,
            "--broker",
            broker_->uri(),
            "--site",
            kSite,
            "--seed",
            "42",
            "--cards",
            kCards,
            "--policies",
            policies.empty() ? files_.policies : policies,
            "--hmac-key-file",
            files_.key_file,
            "--ecard-key-dir",
            src + "/config/dev-keys/ecard",
            "--ykm-key-dir",
            src + "/config/dev-keys/ykm",
            "--report",
            dir_ + "/report.json"};
  }

  struct SimRun {
    int rc = -1;
    std::string out;  // what the simulator printed
    json report;      // what it wrote to --report (discarded when unreadable)
  };
  // Runs `yktgw-sim command` with the common options, then `extra`.
  SimRun run_sim(const std::string& command, const std::vector<std::string>& extra,
                 const std::string& policies = "") const {
    auto argv = sim_args(command, policies);
    argv.insert(argv.end(), extra.begin(), extra.end());
    SimRun r;
    r.rc = run_command(argv, &r.out);
    r.report = json::parse(read_file(dir_ + "/report.json"), nullptr, false);
    return r;
  }

  std::string dir_;
  std::unique_ptr<Broker> broker_;
  int zmq_port_ = 0;
  int http_port_ = 0;
  GatewayFiles files_;
  Process platform_;
  std::unique_ptr<Gateway> gateway_;
};

TEST_F(SimTest, EveryTerminalKindMatchesTheExpectationsAndEveryRecordIsAcked) {
  const SimRun run =
      run_sim("load", {"--mix", "township", "--rate", "60", "--duration", "12", "--profile", "meal",
                       "--bus-outage-s", "2", "--bus-outage-every-s", "3", "--disconnect-every-s",
                       "20", "--resend-ms", "1000", "--drain-s", "15", "--quiet"});
  const std::string& out = run.out;
  const int rc = run.rc;
  const json& report = run.report;
  ASSERT_TRUE(report.is_object()) << out;
  EXPECT_EQ(rc, 0) << out << report.dump(2);

  // Zero mismatches, and the model did call nearly every answer.
  EXPECT_EQ(report["expectations"]["mismatches"], 0) << report["expectations"].dump(2);
  const auto answered = report["requests"]["answered"].get<std::uint64_t>();
  const auto checked = report["expectations"]["checked"].get<std::uint64_t>();
  EXPECT_GT(answered, 400u) << report.dump(2);
  EXPECT_GE(checked * 100, answered * 95) << report.dump(2);
  EXPECT_EQ(report["requests"]["timeouts"], 0) << report.dump(2);

  // Every record acked, including the taps buses stored while their link was down.
  EXPECT_GT(report["records"]["sent"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(report["records"]["acked"], report["records"]["sent"]) << report["records"].dump();
  EXPECT_EQ(report["records"]["pending"], 0);
  EXPECT_EQ(report["records"]["rejected"], 0);
  EXPECT_GT(report["outages"]["offline_taps_stored"].get<std::uint64_t>(), 0u)
      << report["outages"].dump();

  // Every scenario of the file was exercised, with every kind of credential, and the platform
  // decided some of them.
  for (const char* s :
       {"canteen", "canteen_campus", "gate_community", "gate_campus", "gate_site", "parking_entry",
        "parking_exit", "bus", "scenic", "library", "museum", "hotel", "clinic"}) {
    EXPECT_GT(report["by_scenario"].value(s, json::object()).value("answered", 0), 0) << s;
  }
  for (const char* c : {"card", "ecard_qr", "ykm_qr", "other"}) {
    EXPECT_GT(report["by_credential"].value(c, 0), 0) << c;
  }
  EXPECT_GT(report["by_mode"].value("online", 0), 0) << report["by_mode"].dump();
  // Declines of several kinds: the deny list, unknown cards, groups.
  for (const char* r : {"ok", "card_lost", "unknown_card", "group_not_allowed"}) {
    EXPECT_GT(report["by_reason"].value(r, 0), 0) << r << " " << report["by_reason"].dump();
  }

  // No full citizen number anywhere in what the simulator printed or wrote.
  const std::regex full_number("[0-9]{17}[0-9X]");
  EXPECT_FALSE(std::regex_search(out, full_number)) << out;
  EXPECT_FALSE(std::regex_search(report.dump(), full_number));
}

TEST_F(SimTest, DemoPrintsOneMaskedLinePerTap) {
  const SimRun run = run_sim("demo", {"--mix", "canteen:1,bus:1,gate_campus:1", "--rate", "5",
                                      "--duration", "3", "--drain-s", "10"});
  const std::string& out = run.out;
  const int rc = run.rc;
  const json& report = run.report;
  write_file(dir_ + "/demo.out", out);  // kept with the test's files, for a reader
  EXPECT_EQ(rc, 0) << out;
  ASSERT_TRUE(report.is_object()) << out;
  EXPECT_EQ(report["run"]["mode"], "demo");
  EXPECT_EQ(report["expectations"]["mismatches"], 0);
  // One line per answered tap: time, terminal, scenario, masked card, credential, decision.
  const std::regex tap_line(
      R"([0-9]{2}:[0-9]{2}:[0-9]{2} (ct|bus|xy-gate)-0001 +[a-z_]+ +([0-9]{6}\*{8}[0-9X]{4}|-) +[a-z_]+ +(approve|decline) .*)");
  std::int64_t lines = 0;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    if (std::regex_match(line, tap_line)) ++lines;
  }
  EXPECT_EQ(static_cast<std::uint64_t>(lines), report["requests"]["answered"].get<std::uint64_t>())
      << out;
  EXPECT_GE(lines, 10) << out;
  EXPECT_FALSE(std::regex_search(out, std::regex("[0-9]{17}[0-9X]"))) << out;
}

TEST_F(SimTest, ARunEndingWhileLinksAreDownWaitsForThemAndCountsNoErrors) {
  // Links drop every half second or so for 1 to 4 s, so when the load stops many terminals are
  // still reconnecting. The run waits for them instead of cutting their subscribes short.
  const SimRun run = run_sim(
      "load", {"--mix", "canteen:10,gate_campus:10", "--rate", "40", "--duration", "3",
               "--disconnect-every-s", "0.5", "--txn-ratio", "0", "--drain-s", "20", "--quiet"});
  const std::string& out = run.out;
  const int rc = run.rc;
  const json& report = run.report;
  ASSERT_TRUE(report.is_object()) << out;
  EXPECT_EQ(rc, 0) << out << report.dump(2);
  EXPECT_EQ(report["errors"], 0) << out;
  EXPECT_GE(report["outages"]["outages"].get<std::uint64_t>(), 20u) << report["outages"].dump();
  EXPECT_EQ(out.find("link_failure"), std::string::npos) << out;
}

TEST_F(SimTest, ADecisionTheModelDisagreesWithIsCountedAndFailsTheRun) {
  // The campus gate opens all day for this test, on both sides, so that the decision does not
  // depend on the hour the test runs at (outside 06:00-23:00 every tap is outside_hours).
  std::string policies = read_file(files_.policies);
  const std::string hours = "hours = [\"06:00-23:00\"]";
  const auto hours_at = policies.find(hours, policies.find("[scenario.gate_campus]"));
  ASSERT_NE(hours_at, std::string::npos);
  policies.replace(hours_at, hours.size(), "hours = [\"00:00-24:00\"]");
  write_file(files_.policies, policies);
  ASSERT_EQ(kill(gateway_->process().pid(), SIGHUP), 0);
  ASSERT_TRUE(wait_log(*gateway_, "reload: policies loaded", 10s)) << gateway_->log();
  // The simulator is told the campus gate admits staff only; the gateway also admits students.
  const std::string campus = "allowed_groups = [\"staff\", \"student\"]";
  const auto at = policies.find(campus);
  ASSERT_NE(at, std::string::npos);
  policies.replace(at, campus.size(), "allowed_groups = [\"staff\"]");
  const std::string wrong = dir_ + "/staff-only.toml";
  write_file(wrong, policies);
  const SimRun run = run_sim(
      "load",
      {"--mix", "gate_campus:2", "--rate", "40", "--duration", "2", "--drain-s", "10", "--quiet"},
      wrong);
  const std::string& out = run.out;
  const int rc = run.rc;
  const json& report = run.report;
  ASSERT_TRUE(report.is_object()) << out;
  EXPECT_EQ(rc, 1) << out;
  EXPECT_GT(report["expectations"]["mismatches"].get<std::uint64_t>(), 0u) << report.dump(2);
  EXPECT_FALSE(report["passed"].get<bool>());
  ASSERT_FALSE(report["expectations"]["samples"].empty());
  const std::string sample = report["expectations"]["samples"][0];
  EXPECT_NE(sample.find("expected=decline/group_not_allowed/item 9 got=approve/ok/item 9"),
            std::string::npos)
      << sample;
  EXPECT_NE(sample.find("********"), std::string::npos) << sample;  // masked
  EXPECT_FALSE(std::regex_search(out, std::regex("[0-9]{17}[0-9X]"))) << out;
}

}  // namespace
}  // namespace yktgw::testing
