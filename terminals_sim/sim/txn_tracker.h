#pragma once
// Transaction records a simulated terminal still holds. The gateway's application ack, not the
// MQTT PUBACK, is what lets a terminal forget a record, so every record stays here until an
// ack settles it, and is resent with the same txn_id on an exponential backoff.

#include <chrono>
#include <cstdint>
#include <optional>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

namespace yktgw::sim {

class TxnTracker {
 public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;
  using Millis = std::chrono::milliseconds;

  struct Pending {
    std::string txn_id;
    std::uint32_t terminal = 0;  // index of the terminal that owns the record
    std::string payload;         // serialized once so that every resend is byte-identical
    std::uint32_t publishes = 0;
    Millis backoff{0};
    TimePoint due{};
  };

  // The first resend comes `first_resend` after the first publish; each later wait doubles, up
  // to `max_backoff` (never below `first_resend`).
  explicit TxnTracker(Millis first_resend, Millis max_backoff = Millis(10'000));

  // Adds a record, due for its first publish at `now`. False if the txn_id is already pending.
  bool add(std::string txn_id, std::uint32_t terminal, std::string payload, TimePoint now);

  // The records due at `now`, earliest first. Each must then be reported with
  // published() or refused(), which schedule it again.
  std::vector<std::string> take_due(TimePoint now);

  // The publish was handed to MQTT. Returns true when it was a resend.
  bool published(const std::string& txn_id, TimePoint now);
  // MQTT would not take the publish (buffer full, disconnected): try again at `retry_at`
  // without growing the backoff.
  void refused(const std::string& txn_id, TimePoint retry_at);

  // The terminal reconnected: everything it holds is due at `now`, as the protocol asks
  // (docs/terminal-protocol.md §8), instead of waiting out the backoff. Returns how many.
  std::size_t make_due_now(std::uint32_t terminal, TimePoint now);

  // An ack arrived: forgets the record. nullopt when it was not pending (a second ack for a
  // resent record, or a stray one).
  std::optional<Pending> settle(const std::string& txn_id);

  const Pending* find(const std::string& txn_id) const;
  std::size_t size() const { return pending_.size(); }
  bool empty() const { return pending_.empty(); }
  std::optional<TimePoint> next_due() const;

 private:
  struct Slot {
    TimePoint due;
    std::string txn_id;
    bool operator>(const Slot& o) const { return due > o.due; }
  };

  void schedule(Pending& p, TimePoint due);
  void drop_stale() const;

  Millis first_resend_;
  Millis max_backoff_;
  std::unordered_map<std::string, Pending> pending_;
  // Lazy deletion: a slot whose record is gone or rescheduled is skipped when it surfaces.
  mutable std::priority_queue<Slot, std::vector<Slot>, std::greater<>> schedule_;
};

}  // namespace yktgw::sim
