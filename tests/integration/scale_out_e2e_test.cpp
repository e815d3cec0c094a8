// Two gateways on one broker split the terminals' traffic through an MQTT shared subscription
// (mqtt.shared_group), each with its own store: every request is answered once and every record
// stored once across the two, also when one of them is killed.

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
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

// terminal/txn_id of every stored record; opened read-write so that a killed gateway's WAL is
// recovered as the gateway itself would on its next start.
std::multiset<std::string> stored_records(const std::string& db_path, std::string* integrity) {
  std::multiset<std::string> out;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return out;
  }
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT terminal || '/' || txn_id FROM txn", -1, &st, nullptr);
  while (sqlite3_step(st) == SQLITE_ROW)
    out.insert(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  sqlite3_finalize(st);
  sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr);
  if (sqlite3_step(st) == SQLITE_ROW && integrity)
    *integrity = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

// terminal/txn_id -> the row without the columns each gateway fills in for itself (seq,
// received_ms), for comparing a record stored by two gateways. Returns the number of rows.
std::size_t stored_rows(const std::string& db_path, std::map<std::string, std::string>& rows,
                        std::string* integrity) {
  std::size_t n = 0;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return n;
  }
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT * FROM txn", -1, &st, nullptr);
  while (sqlite3_step(st) == SQLITE_ROW) {
    ++n;
    std::string key, content;
    for (int c = 0; c < sqlite3_column_count(st); ++c) {
      const std::string name = sqlite3_column_name(st, c);
      const auto* v = reinterpret_cast<const char*>(sqlite3_column_text(st, c));
      const std::string value = v == nullptr ? "NULL" : v;
      if (name == "seq" || name == "received_ms") continue;
      content += name + "=" + value + ";";
      if (name == "terminal") key = value + key;
      if (name == "txn_id") key += "/" + value;
    }
    rows[key] = content;
  }
  sqlite3_finalize(st);
  sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr);
  if (sqlite3_step(st) == SQLITE_ROW && integrity)
    *integrity = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

class ScaleOutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = make_temp_dir(std::string("scale-") + info->name());
    broker_ = std::make_unique<Broker>(dir_);
    card_ = citizen_number("50015619900101123");
    for (const char* name : {"a", "b"}) {
      const std::string d = dir_ + "/gw-" + name;
      std::filesystem::create_directories(d);
      files_.push_back(write_gateway_config(d, broker_->uri(), kSite));
    }
    start(0);
    start(1);
  }

  void start(std::size_t i) {
    const std::string id = i == 0 ? "gw-a" : "gw-b";
    gateways_.resize(2);
    gateways_[i] = std::make_unique<Gateway>(
        files_[i], std::vector<std::string>{"--set", "gateway.id=" + id, "--set",
                                            "mqtt.shared_group=xiangkou-group"});
    ASSERT_TRUE(gateways_[i]->wait_connected(10s)) << gateways_[i]->log();
  }

  std::string db(std::size_t i) const { return files_[i].data_dir + "/records.db"; }

  std::string dir_;
  std::unique_ptr<Broker> broker_;
  std::vector<GatewayFiles> files_;
  std::vector<std::unique_ptr<Gateway>> gateways_;
  std::string card_;
};

// One terminal: sends, collects replies, resends unacked records every second.
class Terminal {
 public:
  Terminal(const std::string& uri, std::string id)
      : id_(std::move(id)), client_(uri, id_, {topic(id_, "auth/resp"), topic(id_, "txn/ack")}) {}

  const std::string& id() const { return id_; }

  void ask(const std::string& req_id, const std::string& card) {
    client_.publish(topic(id_, "auth/req"), auth_req_json(id_, req_id, card));
  }
  void send(const std::string& txn_id, const std::string& card) {
    client_.publish(topic(id_, "txn"), txn_json(id_, txn_id, card));
  }

  // Moves what arrived into the counters.
  void collect() {
    for (const auto& m : client_.drain()) {
      json j = json::parse(m.payload, nullptr, false);
      if (!j.is_object()) continue;
      std::lock_guard lock(mu_);
      if (m.topic.ends_with("auth/resp")) ++replies_[j.value("req_id", "")];
      if (m.topic.ends_with("txn/ack"))
        acks_[j.value("txn_id", "")].push_back(j.value("status", ""));
    }
  }

  std::map<std::string, int> replies() const {
    std::lock_guard lock(mu_);
    return replies_;
  }
  std::map<std::string, std::vector<std::string>> acks() const {
    std::lock_guard lock(mu_);
    return acks_;
  }

 private:
  std::string id_;
  TestClient client_;
  mutable std::mutex mu_;
  std::map<std::string, int> replies_;
  std::map<std::string, std::vector<std::string>> acks_;
};

template <typename Pred>
bool wait_until(Pred done, std::chrono::milliseconds timeout, std::vector<Terminal*> terminals) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    for (auto* t : terminals) t->collect();
    if (done()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

TEST_F(ScaleOutTest, EveryRequestAnsweredOnceEveryRecordStoredOnceAcrossTwoGateways) {
  constexpr int kTerminals = 8;
  constexpr int kEach = 50;
  std::vector<std::unique_ptr<Terminal>> terms;
  std::vector<Terminal*> all;
  for (int t = 0; t < kTerminals; ++t) {
    terms.push_back(std::make_unique<Terminal>(broker_->uri(), "pos-" + std::to_string(t)));
    all.push_back(terms.back().get());
  }
  for (int i = 0; i < kEach; ++i) {
    for (auto& t : terms) {
      t->ask("r-" + std::to_string(i), card_);
      t->send("tx-" + std::to_string(i), card_);
    }
  }
  auto complete = [&] {
    for (auto& t : terms)
      if (t->replies().size() < kEach || t->acks().size() < kEach) return false;
    return true;
  };
  ASSERT_TRUE(wait_until(complete, 30s, all));
  std::this_thread::sleep_for(500ms);  // a second answer would arrive by now
  for (auto* t : all) t->collect();

  for (auto& t : terms) {
    for (const auto& [req, n] : t->replies()) EXPECT_EQ(n, 1) << t->id() << " " << req;
    for (const auto& [txn, statuses] : t->acks()) {
      ASSERT_EQ(statuses.size(), 1u) << t->id() << " " << txn;
      EXPECT_EQ(statuses[0], "stored") << t->id() << " " << txn;
    }
  }
  std::string ok_a, ok_b;
  const auto a = stored_records(db(0), &ok_a);
  const auto b = stored_records(db(1), &ok_b);
  EXPECT_EQ(ok_a, "ok");
  EXPECT_EQ(ok_b, "ok");
  // Both took a real share, and together they hold each record exactly once.
  EXPECT_GE(a.size(), static_cast<std::size_t>(kTerminals * kEach / 5)) << a.size();
  EXPECT_GE(b.size(), static_cast<std::size_t>(kTerminals * kEach / 5)) << b.size();
  std::multiset<std::string> both = a;
  both.insert(b.begin(), b.end());
  EXPECT_EQ(both.size(), static_cast<std::size_t>(kTerminals * kEach));
  EXPECT_EQ(std::set<std::string>(both.begin(), both.end()).size(), both.size());
  EXPECT_NE(gateways_[0]->log().find("shared_group=xiangkou-group"), std::string::npos);
}

// What the group promises when a member dies (docs/scaling.md):
// - auth/req: at most one answer each. A request sent once the broker has dropped the dead
//   member (its last will is out) is answered exactly once, by the member left. A request sent
//   before that and not yet answered when the member died may go unanswered: it was handed to
//   the dead member, and the terminal decides offline after its timeout.
// - txn: terminals resend a record until it is acked, so every record is acked in the end.
//   A record is in exactly one store, except one the dead member stored but whose ack never
//   reached the terminal: the resend is stored by the member left too. That second row is the
//   same record (same terminal and txn_id, same content); platforms count it once.
TEST_F(ScaleOutTest,
       WhenOneGatewayIsKilledUnderLoadEveryRequestIsAnsweredAtMostOnceAndEveryRecordAcked) {
  using Clock = std::chrono::steady_clock;
  constexpr int kTerminals = 4;
  constexpr auto kTick = 20ms;           // each terminal: one request and one new record per tick
  constexpr auto kResendAfter = 1000ms;  // a record without an ack is sent again after this
  constexpr auto kBeforeKill = 1200ms;
  constexpr auto kAfterGone = 1500ms;  // new traffic continues this long after the will

  struct Request {
    Clock::time_point sent;
    int replies = 0;
    std::optional<Clock::time_point> first_reply;
  };
  struct Record {
    std::string card;
    Clock::time_point first_sent, last_sent;
    int sends = 0;
    std::vector<std::string> acks;
  };
  struct Side {
    std::unique_ptr<TestClient> client;
    std::map<std::string, Request> requests;  // by req_id
    std::map<std::string, Record> records;    // by txn_id
  };
  std::vector<Side> sides(kTerminals);
  std::vector<std::string> ids;
  for (int t = 0; t < kTerminals; ++t) {
    ids.push_back("pos-" + std::to_string(t));
    sides[t].client = std::make_unique<TestClient>(
        broker_->uri(), ids[t],
        std::vector<std::string>{topic(ids[t], "auth/resp"), topic(ids[t], "txn/ack")});
  }
  // The broker publishes the killed gateway's last will when it drops the connection; from
  // then on it hands the shared subscription's messages to the member left only.
  TestClient watcher(broker_->uri(), "watcher", {"ykt/v1/" + kSite + "/_gateway/gw-a/status"});

  std::mutex mu;  // guards sides' maps and the times below
  std::optional<Clock::time_point> killed_at, gone_at;
  auto collect = [&] {
    const auto now = Clock::now();
    for (const auto& m : watcher.drain()) {
      std::lock_guard lock(mu);
      if (m.payload.find("\"offline\"") != std::string::npos && !gone_at) gone_at = now;
    }
    for (auto& side : sides) {
      for (const auto& m : side.client->drain()) {
        const json j = json::parse(m.payload, nullptr, false);
        if (!j.is_object()) continue;
        std::lock_guard lock(mu);
        if (m.topic.ends_with("/auth/resp")) {
          Request& r = side.requests[j.value("req_id", "")];
          if (r.replies++ == 0) r.first_reply = now;
        } else if (m.topic.ends_with("/txn/ack")) {
          Record& r = side.records[j.value("txn_id", "")];
          r.acks.push_back(j.value("status", ""));
        }
      }
    }
  };

  // The terminals: new requests and records every tick until told to stop, resends always.
  std::atomic<bool> new_traffic{true};
  std::atomic<bool> running{true};
  std::thread driver([&] {
    auto next_tick = Clock::now();
    int n = 0;
    while (running) {
      collect();
      const auto now = Clock::now();
      const bool tick = new_traffic && now >= next_tick;
      for (int t = 0; t < kTerminals; ++t) {
        Side& side = sides[t];
        if (tick) {
          const std::string req_id = "r-" + std::to_string(n);
          const std::string txn_id = "tx-" + std::to_string(n);
          // Cards vary from record to record, so rows differ in token and masked form.
          const std::string card =
              citizen_number("50015619900101" + std::to_string(1000 + n % 1000).substr(1));
          {
            std::lock_guard lock(mu);
            side.requests[req_id].sent = now;
            Record& r = side.records[txn_id];
            r.card = card;
            r.first_sent = r.last_sent = now;
            r.sends = 1;
          }
          side.client->publish(topic(ids[t], "auth/req"), auth_req_json(ids[t], req_id, card_));
          side.client->publish(topic(ids[t], "txn"), txn_json(ids[t], txn_id, card));
        }
        std::vector<std::pair<std::string, std::string>> resend;
        {
          std::lock_guard lock(mu);
          for (auto& [txn_id, r] : side.records) {
            if (r.acks.empty() && r.sends > 0 && now - r.last_sent >= kResendAfter) {
              r.last_sent = now;
              ++r.sends;
              resend.emplace_back(txn_id, r.card);
            }
          }
        }
        for (const auto& [txn_id, card] : resend)
          side.client->publish(topic(ids[t], "txn"), txn_json(ids[t], txn_id, card));
      }
      if (tick) {
        next_tick += kTick;
        ++n;
      }
      std::this_thread::sleep_for(2ms);
    }
  });

  std::this_thread::sleep_for(kBeforeKill);
  {
    std::lock_guard lock(mu);
    killed_at = Clock::now();
  }
  gateways_[0]->process().signal(SIGKILL);
  ASSERT_TRUE(gateways_[0]->process().wait(5s).has_value());
  const auto will_deadline = Clock::now() + 10s;
  for (;;) {
    {
      std::lock_guard lock(mu);
      if (gone_at) break;
    }
    if (Clock::now() > will_deadline) {
      new_traffic = false;
      running = false;
      driver.join();
      FAIL() << "the broker never published the killed gateway's last will";
    }
    std::this_thread::sleep_for(5ms);
  }
  std::this_thread::sleep_for(kAfterGone);
  new_traffic = false;

  // Wait until every record is acked and every request sent after the will is answered.
  auto settled = [&] {
    std::lock_guard lock(mu);
    for (const auto& side : sides) {
      for (const auto& [id, r] : side.records)
        if (r.acks.empty()) return false;
      for (const auto& [id, r] : side.requests)
        if (r.sent > *gone_at && r.replies == 0) return false;
    }
    return true;
  };
  const auto deadline = Clock::now() + 60s;
  while (!settled() && Clock::now() < deadline) std::this_thread::sleep_for(50ms);
  std::this_thread::sleep_for(500ms);  // a second answer or ack would arrive by now
  running = false;
  driver.join();
  collect();

  // ---- requests ----
  const auto kill = *killed_at;
  const auto gone = *gone_at;
  std::size_t sent = 0, before_kill = 0, in_window = 0, after_gone = 0, lost = 0, twice = 0;
  for (std::size_t t = 0; t < sides.size(); ++t) {
    for (const auto& [req_id, r] : sides[t].requests) {
      if (r.sent == Clock::time_point{}) {
        ADD_FAILURE() << ids[t] << " " << req_id << ": a reply to a request never sent";
        continue;
      }
      ++sent;
      if (r.sent < kill) ++before_kill;
      if (r.replies > 1) ++twice;
      EXPECT_LE(r.replies, 1) << ids[t] << " " << req_id << " answered more than once";
      // The in-flight window: sent before the broker dropped the dead member, not yet answered
      // when it died.
      const bool in_flight = r.sent < gone && !(r.first_reply && *r.first_reply < kill);
      if (in_flight) ++in_window;
      if (r.sent > gone) {
        ++after_gone;
        EXPECT_EQ(r.replies, 1) << ids[t] << " " << req_id << " sent after the will";
      }
      if (r.replies == 0) {
        ++lost;
        EXPECT_TRUE(in_flight) << ids[t] << " " << req_id << " unanswered outside the window";
        // Handed to the dead member shortly before it died, not long before.
        EXPECT_GT(r.sent, kill - 5s) << ids[t] << " " << req_id;
      }
    }
  }
  EXPECT_GT(before_kill, 0u);
  EXPECT_GT(after_gone, 0u);
  EXPECT_LE(lost, in_window);

  // ---- records ----
  std::map<std::string, std::string> rows_a, rows_b;  // terminal/txn_id -> content
  std::string ok_a, ok_b;
  const std::size_t count_a = stored_rows(db(0), rows_a, &ok_a);
  const std::size_t count_b = stored_rows(db(1), rows_b, &ok_b);
  EXPECT_EQ(ok_a, "ok");
  EXPECT_EQ(ok_b, "ok");
  EXPECT_EQ(count_a, rows_a.size()) << "a record twice in the killed gateway's store";
  EXPECT_EQ(count_b, rows_b.size()) << "a record twice in the surviving gateway's store";
  std::size_t records = 0, resent = 0, in_both = 0, extra_acks = 0, first_sent_after_gone = 0;
  for (std::size_t t = 0; t < sides.size(); ++t) {
    for (const auto& [txn_id, r] : sides[t].records) {
      const std::string key = ids[t] + "/" + txn_id;
      if (r.sends == 0) {
        ADD_FAILURE() << key << ": an ack for a record never sent";
        continue;
      }
      ++records;
      if (r.sends > 1) ++resent;
      // Every record acked; never more acks than sends, never a refusal.
      EXPECT_FALSE(r.acks.empty()) << key << " never acked";
      EXPECT_LE(r.acks.size(), static_cast<std::size_t>(r.sends)) << key;
      extra_acks += r.acks.size() > 1 ? r.acks.size() - 1 : 0;
      for (const auto& status : r.acks)
        EXPECT_TRUE(status == "stored" || status == "duplicate") << key << " " << status;
      const bool a = rows_a.contains(key);
      const bool b = rows_b.contains(key);
      EXPECT_TRUE(a || b) << key << " acked but in no store";
      if (r.first_sent > gone) {
        ++first_sent_after_gone;
        EXPECT_FALSE(a) << key << " first sent after the will, yet in the killed gateway's store";
      }
      if (a && b) {
        ++in_both;
        // Only a resend puts a record in the second store, and it is the same record.
        EXPECT_GT(r.sends, 1) << key << " in both stores but sent once";
        EXPECT_EQ(rows_a[key], rows_b[key]) << key << " differs between the stores";
      }
    }
  }
  EXPECT_EQ(rows_a.size() + rows_b.size() - in_both, records) << "a stored record never sent";
  EXPECT_GT(count_a, 0u) << "the killed gateway took no share before the kill";
  EXPECT_GT(first_sent_after_gone, 0u);

  std::printf(
      "kill -9 of gw-a: will after %lld ms\n"
      "auth/req: sent=%zu before_kill=%zu in_flight_window=%zu lost_in_window=%zu "
      "sent_after_will=%zu (all answered once) answered_twice=%zu\n"
      "txn: records=%zu resent=%zu extra_acks=%zu stored_killed=%zu stored_left=%zu "
      "in_both=%zu\n",
      static_cast<long long>(
          std::chrono::duration_cast<std::chrono::milliseconds>(gone - kill).count()),
      sent, before_kill, in_window, lost, after_gone, twice, records, resent, extra_acks, count_a,
      count_b, in_both);
}

}  // namespace
}  // namespace yktgw::testing
