#pragma once
// Fakes for the policy engine's boundaries: clock, card list, credential decoders, link health
// and the online authorization client. Card "numbers" here are short names ("age80", "lost"),
// never real-looking numbers.

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "gateway/interfaces/card_list.h"
#include "gateway/interfaces/clock.h"
#include "gateway/interfaces/credential_decoder.h"
#include "gateway/interfaces/district_link.h"
#include "gateway/interfaces/record_store.h"

namespace yktgw {
// Readable gtest output for the enums the tests compare.
inline void PrintTo(Reason r, std::ostream* os) { *os << reason_code(r); }
inline void PrintTo(Decision d, std::ostream* os) {
  *os << (d == Decision::approve ? "approve" : "decline");
}
inline void PrintTo(AuthMode m, std::ostream* os) {
  *os << (m == AuthMode::online ? "online" : "offline");
}
}  // namespace yktgw

namespace yktgw::testing {

// UTC milliseconds of a civil date and time (H. Hinnant's days_from_civil).
constexpr UtcMillis utc_ms(int y, int m, int d, int hh = 0, int mi = 0, int ss = 0, int ms = 0) {
  y -= m <= 2 ? 1 : 0;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const int yoe = y - era * 400;
  const int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const std::int64_t days = static_cast<std::int64_t>(era) * 146097 + doe - 719468;
  return ((days * 24 + hh) * 60 + mi) * 60'000LL + ss * 1000LL + ms;
}

// Shanghai local time as UTC: the same civil time minus 8 hours.
constexpr UtcMillis shanghai_ms(int y, int m, int d, int hh = 0, int mi = 0, int ss = 0) {
  return utc_ms(y, m, d, hh, mi, ss) - 8LL * 3600 * 1000;
}

class FakeClock final : public Clock {
 public:
  explicit FakeClock(std::int64_t now = 0) : now_(now) {}
  std::int64_t wall_ms() const override { return now_.load(); }
  std::chrono::steady_clock::time_point steady() const override {
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(now_.load()));
  }
  void set(std::int64_t ms) { now_ = ms; }
  void advance(std::int64_t ms) { now_ += ms; }

 private:
  std::atomic<std::int64_t> now_;
};

class FakeCardList final : public CardList {
 public:
  std::optional<CardEntry> find(std::string_view token) const override {
    std::lock_guard lock(mu_);
    const auto it = cards_.find(std::string(token));
    if (it == cards_.end()) return std::nullopt;
    return it->second;
  }
  std::uint64_t size() const override {
    std::lock_guard lock(mu_);
    return cards_.size();
  }
  std::int64_t version() const override { return 1; }
  std::int64_t updated_ms() const override { return updated_ms_.load(); }
  std::int64_t checked_ms() const override { return checked_ms_.load(); }

  void put(const std::string& token, CardStatus status, HolderAttributes attrs = 0) {
    std::lock_guard lock(mu_);
    cards_[token] = CardEntry{status, attrs};
  }
  void set_updated_ms(std::int64_t ms) { updated_ms_ = ms; }
  void set_checked_ms(std::int64_t ms) { checked_ms_ = ms; }

 private:
  mutable std::mutex mu_;
  std::map<std::string, CardEntry> cards_;
  std::atomic<std::int64_t> updated_ms_{0};
  std::atomic<std::int64_t> checked_ms_{0};
};

// Decodes from a table: the card id (card_no, or qr for QR types) names a prepared result.
class FakeDecoder final : public CredentialDecoder {
 public:
  FakeDecoder(CredentialType type, bool expensive) : type_(type), expensive_(expensive) {}
  CredentialType type() const override { return type_; }
  bool expensive() const override { return expensive_; }
  DecodedCredential decode(const Credential& c, const DecodeContext& ctx) const override {
    {
      std::lock_guard lock(mu_);
      last_thread_ = std::this_thread::get_id();
      last_mac_required_ = ctx.mac_required;
      ++calls_;
    }
    if (type_ == CredentialType::other) return {};
    if (ctx.mac_required && c.mac.empty()) return DecodedCredential{Reason::mac_required, {}};
    const std::string& id = type_ == CredentialType::card ? c.card_no : c.qr;
    std::lock_guard lock(mu_);
    const auto it = holders_.find(id);
    if (it == holders_.end()) {
      return DecodedCredential{
          type_ == CredentialType::card ? Reason::invalid_card_no : Reason::malformed_credential,
          {}};
    }
    return DecodedCredential{Reason::ok, it->second};
  }

  void add(const std::string& id, Holder h) {
    std::lock_guard lock(mu_);
    holders_[id] = std::move(h);
  }
  std::thread::id last_thread() const {
    std::lock_guard lock(mu_);
    return last_thread_;
  }
  int calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  CredentialType type_;
  bool expensive_;
  mutable std::mutex mu_;
  std::map<std::string, Holder> holders_;
  mutable std::thread::id last_thread_;
  mutable bool last_mac_required_ = false;
  mutable int calls_ = 0;
};

class FakeLink final : public LinkHealth {
 public:
  bool up() const override { return up_.load(); }
  std::int64_t last_heartbeat_ms() const override { return 0; }
  void set_up(bool up) { up_ = up; }

 private:
  std::atomic<bool> up_{false};
};

// Answers as told: inline, or from its own thread after a delay (as the real client does on a
// timeout: the deadline passes, then the callback runs on the client's thread).
class FakeOnlineClient final : public OnlineAuthClient {
 public:
  struct Behaviour {
    OnlineOutcome outcome = OnlineOutcome::answered;
    OnlineAuthReply reply{Decision::approve, "ok", -1};  // amount -1: echo the request's
    std::chrono::milliseconds delay{0};                  // > 0: answer from another thread
  };

  ~FakeOnlineClient() override { join(); }

  void authorize(OnlineAuthRequest request, std::chrono::milliseconds deadline,
                 Callback done) override {
    Behaviour b;
    {
      std::lock_guard lock(mu_);
      b = behaviour_;
      requests_.push_back(request);
      deadlines_.push_back(deadline);
    }
    OnlineAuthReply reply = b.reply;
    if (reply.amount_fen < 0) reply.amount_fen = request.amount_fen;
    if (b.delay.count() == 0) {
      done(b.outcome, reply);
      return;
    }
    std::lock_guard lock(mu_);
    threads_.emplace_back([b, reply, done = std::move(done)] {
      std::this_thread::sleep_for(b.delay);
      done(b.outcome, reply);
    });
  }

  void set(Behaviour b) {
    std::lock_guard lock(mu_);
    behaviour_ = b;
  }
  std::size_t calls() const {
    std::lock_guard lock(mu_);
    return requests_.size();
  }
  OnlineAuthRequest last() const {
    std::lock_guard lock(mu_);
    return requests_.empty() ? OnlineAuthRequest{} : requests_.back();
  }
  std::chrono::milliseconds last_deadline() const {
    std::lock_guard lock(mu_);
    return deadlines_.empty() ? std::chrono::milliseconds(0) : deadlines_.back();
  }
  void join() {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
  }

 private:
  mutable std::mutex mu_;
  Behaviour behaviour_;
  std::vector<OnlineAuthRequest> requests_;
  std::vector<std::chrono::milliseconds> deadlines_;
  std::vector<std::thread> threads_;
};

// Keeps what is submitted; answers as told, at once (as a commit would, later, on the writer).
class FakeRecordStore final : public RecordStore {
 public:
  bool submit(TxnRecord record, Completion done) override {
    std::lock_guard lock(mu_);
    if (refuse_) return false;
    records_.push_back(std::move(record));
    if (done) done(outcome_);
    return true;
  }
  void flush() override {}
  StoreStats stats() const override { return {}; }

  std::vector<TxnRecord> records() const {
    std::lock_guard lock(mu_);
    return records_;
  }
  void set_outcome(StoreOutcome o) {
    std::lock_guard lock(mu_);
    outcome_ = o;
  }
  void set_refuse(bool refuse) {
    std::lock_guard lock(mu_);
    refuse_ = refuse;
  }

 private:
  mutable std::mutex mu_;
  std::vector<TxnRecord> records_;
  StoreOutcome outcome_ = StoreOutcome::stored;
  bool refuse_ = false;
};

}  // namespace yktgw::testing
