#pragma once
// Shared pieces of the forwarding tests: temp dirs, a clock the test drives, a link the test
// answers by hand, and a real record store to fill records.db.

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "gateway/interfaces/clock.h"
#include "gateway/interfaces/upstream_link.h"
#include "gateway/store/sqlite_record_store.h"
#include "tests/common/temp_dir.h"

namespace yktgw::testing {

namespace fs = std::filesystem;

inline std::shared_ptr<spdlog::logger> quiet_log(const std::string& name = "test") {
  return std::make_shared<spdlog::logger>(name, std::make_shared<spdlog::sinks::null_sink_mt>());
}

class FakeClock final : public Clock {
 public:
  std::int64_t wall_ms() const override { return wall_.load(); }
  std::chrono::steady_clock::time_point steady() const override {
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(steady_.load()));
  }
  void advance(std::chrono::milliseconds d) {
    wall_ += d.count();
    steady_ += d.count();
  }
  void set_wall(std::int64_t ms) { wall_ = ms; }

 private:
  std::atomic<std::int64_t> wall_{1'718'000'000'000};
  std::atomic<std::int64_t> steady_{1'000'000};
};

// Keeps every batch it is given; the test answers them with complete(). With `auto_deliver`,
// answers delivered at once (on the caller's thread, which the forwarder tolerates).
class FakeLink final : public UpstreamLink {
 public:
  explicit FakeLink(std::string destination, int max_in_flight = 4)
      : destination_(std::move(destination)), max_in_flight_(max_in_flight) {}

  const std::string& destination() const override { return destination_; }
  int max_in_flight() const override { return max_in_flight_; }
  void send(const Batch& batch, Done done) override {
    std::unique_lock lock(mu_);
    sent_.push_back(batch);
    if (auto_deliver_) {
      delivered_ids_.push_back(batch.id);
      lock.unlock();
      done(DeliveryResult{DeliveryStatus::delivered, "ok"});
      return;
    }
    pending_.emplace_back(batch.id, std::move(done));
  }

  void set_auto_deliver(bool on) {
    std::lock_guard lock(mu_);
    auto_deliver_ = on;
  }
  std::vector<Batch> sent() const {
    std::lock_guard lock(mu_);
    return sent_;
  }
  std::vector<std::string> sent_ids() const {
    std::lock_guard lock(mu_);
    std::vector<std::string> ids;
    for (const auto& b : sent_) ids.push_back(b.id);
    return ids;
  }
  std::vector<std::string> pending_ids() const {
    std::lock_guard lock(mu_);
    std::vector<std::string> ids;
    for (const auto& [id, done] : pending_) ids.push_back(id);
    return ids;
  }
  std::size_t pending() const {
    std::lock_guard lock(mu_);
    return pending_.size();
  }
  void clear_sent() {
    std::lock_guard lock(mu_);
    sent_.clear();
  }
  // Answers the pending batch `id`; false when there is none.
  bool complete(const std::string& id, DeliveryStatus status, std::string detail = "") {
    Done done;
    {
      std::lock_guard lock(mu_);
      for (auto it = pending_.begin(); it != pending_.end(); ++it) {
        if (it->first == id) {
          done = std::move(it->second);
          pending_.erase(it);
          break;
        }
      }
    }
    if (!done) return false;
    done(DeliveryResult{status, std::move(detail)});
    return true;
  }
  // Answers every pending batch the same way; returns how many.
  int complete_all(DeliveryStatus status, const std::string& detail = "") {
    int n = 0;
    for (const std::string& id : pending_ids()) n += complete(id, status, detail) ? 1 : 0;
    return n;
  }

 private:
  std::string destination_;
  int max_in_flight_;
  mutable std::mutex mu_;
  bool auto_deliver_ = false;
  std::vector<Batch> sent_;
  std::vector<std::pair<std::string, Done>> pending_;
  std::vector<std::string> delivered_ids_;
};

inline TxnRecord txn(int n, IssuerRegion region = 50, CredentialType type = CredentialType::card,
                     std::int64_t received_ms = 1'718'000'000'000) {
  TxnRecord r;
  r.terminal = "ct-" + std::to_string(n % 7);
  r.txn_id = "ct:" + std::to_string(n);
  r.req_id = "r-" + std::to_string(n);
  r.site = "xiangkou";
  r.scenario = "canteen";
  r.ts_ms = received_ms - 100;
  r.received_ms = received_ms;
  r.card.type = type;
  if (type != CredentialType::other) {
    r.card.token = std::string(64, 'a');
    r.card.masked = std::to_string(region) + "0156********1234";
  } else {
    r.card.method = "cash";
  }
  r.card.region = type == CredentialType::other ? 0 : region;
  r.amount_fen = 600 + n;
  r.service_item = 12;
  return r;
}

// A real record store on `path`: the tests fill records.db the way the gateway does.
class StoreFixture {
 public:
  explicit StoreFixture(const std::string& path) {
    RecordStoreOptions o;
    o.path = path;
    o.synchronous_full = false;
    o.commit_linger_ms = 0;
    auto s = SqliteRecordStore::open(o, quiet_log("store"));
    if (!s) throw std::runtime_error(s.error().message);
    store_ = std::move(s.value());
  }
  void add(const TxnRecord& r) {
    while (!store_->submit(r, nullptr)) store_->flush();
  }
  void add_many(int from, int count, IssuerRegion region = 50,
                std::int64_t received_ms = 1'718'000'000'000) {
    for (int i = from; i < from + count; ++i)
      add(txn(i, region, CredentialType::card, received_ms));
    store_->flush();
  }
  void flush() { store_->flush(); }
  SqliteRecordStore& store() { return *store_; }

 private:
  std::unique_ptr<SqliteRecordStore> store_;
};

}  // namespace yktgw::testing
