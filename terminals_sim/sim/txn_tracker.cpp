#include "terminals_sim/sim/txn_tracker.h"

#include <algorithm>
#include <functional>

namespace yktgw::sim {

TxnTracker::TxnTracker(Millis first_resend, Millis max_backoff)
    : first_resend_(first_resend), max_backoff_(std::max(max_backoff, first_resend)) {}

bool TxnTracker::add(std::string txn_id, std::uint32_t terminal, std::string payload,
                     TimePoint now) {
  if (pending_.contains(txn_id)) return false;
  Pending p{txn_id, terminal, std::move(payload), 0, first_resend_, now};
  auto [it, inserted] = pending_.emplace(std::move(txn_id), std::move(p));
  schedule(it->second, now);
  return inserted;
}

void TxnTracker::schedule(Pending& p, TimePoint due) {
  p.due = due;
  schedule_.push(Slot{due, p.txn_id});
}

void TxnTracker::drop_stale() const {
  while (!schedule_.empty()) {
    const Slot& top = schedule_.top();
    auto it = pending_.find(top.txn_id);
    if (it != pending_.end() && it->second.due == top.due) return;
    schedule_.pop();
  }
}

std::vector<std::string> TxnTracker::take_due(TimePoint now) {
  std::vector<std::string> due;
  for (drop_stale(); !schedule_.empty() && schedule_.top().due <= now; drop_stale()) {
    due.push_back(schedule_.top().txn_id);
    auto& p = pending_.at(due.back());
    schedule_.pop();
    // Parked until published()/refused() reschedules it; a TimePoint::max() slot never surfaces.
    p.due = TimePoint::max();
  }
  return due;
}

bool TxnTracker::published(const std::string& txn_id, TimePoint now) {
  auto it = pending_.find(txn_id);
  if (it == pending_.end()) return false;
  Pending& p = it->second;
  const bool resend = p.publishes > 0;
  if (resend) p.backoff = std::min(p.backoff * 2, max_backoff_);
  ++p.publishes;
  schedule(p, now + p.backoff);
  return resend;
}

void TxnTracker::refused(const std::string& txn_id, TimePoint retry_at) {
  auto it = pending_.find(txn_id);
  if (it != pending_.end()) schedule(it->second, retry_at);
}

std::size_t TxnTracker::make_due_now(std::uint32_t terminal, TimePoint now) {
  std::size_t n = 0;
  for (auto& [id, p] : pending_) {
    // TimePoint::max() marks a record taken by take_due() and not yet reported: leave it.
    if (p.terminal != terminal || p.due <= now || p.due == TimePoint::max()) continue;
    schedule(p, now);
    ++n;
  }
  return n;
}

std::optional<TxnTracker::Pending> TxnTracker::settle(const std::string& txn_id) {
  auto it = pending_.find(txn_id);
  if (it == pending_.end()) return std::nullopt;
  Pending p = std::move(it->second);
  pending_.erase(it);
  return p;
}

const TxnTracker::Pending* TxnTracker::find(const std::string& txn_id) const {
  auto it = pending_.find(txn_id);
  return it == pending_.end() ? nullptr : &it->second;
}

std::optional<TxnTracker::TimePoint> TxnTracker::next_due() const {
  drop_stale();
  if (schedule_.empty()) return std::nullopt;
  return schedule_.top().due;
}

}  // namespace yktgw::sim
