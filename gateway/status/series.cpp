#include "gateway/status/series.h"

namespace yktgw::status {
namespace {

double rate(std::uint64_t before, std::uint64_t after, double dt_s) {
  return after >= before ? static_cast<double>(after - before) / dt_s : 0.0;
}

}  // namespace

SeriesSample derive_sample(const StatusSnapshot& before, const StatusSnapshot& after, double dt_s) {
  SeriesSample s;
  s.t_ms = after.now_ms;
  s.approved_per_s = rate(before.approved, after.approved, dt_s);
  s.declined_per_s = rate(before.declined, after.declined, dt_s);
  for (const auto& [reason, n] : after.declined_by_reason) {
    const auto it = before.declined_by_reason.find(reason);
    const std::uint64_t was = it == before.declined_by_reason.end() ? 0 : it->second;
    if (n > was) s.declined_per_s_by_reason[reason] = rate(was, n, dt_s);
  }
  const LatencySnapshot d = after.auth_latency.minus(before.auth_latency);
  s.latency_p50_ms = latency_quantile_us(d, 0.50) / 1000.0;
  s.latency_p99_ms = latency_quantile_us(d, 0.99) / 1000.0;
  s.txn_per_s = rate(before.txn_stored, after.txn_stored, dt_s);
  for (const auto& l : after.links) s.outbox_backlog[l.destination] = l.backlog;
  return s;
}

void SeriesRing::add(const StatusSnapshot& snapshot, std::int64_t steady_ms) {
  std::lock_guard lock(mu_);
  if (last_ && steady_ms > last_steady_ms_ && capacity_ > 0) {
    const double dt = static_cast<double>(steady_ms - last_steady_ms_) / 1000.0;
    SeriesSample s = derive_sample(*last_, snapshot, dt);
    if (ring_.size() < capacity_) {
      ring_.push_back(std::move(s));
    } else {
      ring_[head_] = std::move(s);
      head_ = (head_ + 1) % capacity_;
    }
  }
  last_ = snapshot;
  last_steady_ms_ = steady_ms;
}

std::vector<SeriesSample> SeriesRing::samples(UtcMillis since_ms) const {
  std::lock_guard lock(mu_);
  std::vector<SeriesSample> out;
  out.reserve(ring_.size());
  for (std::size_t i = 0; i < ring_.size(); ++i) {
    const auto& s = ring_[(head_ + i) % ring_.size()];
    if (s.t_ms > since_ms) out.push_back(s);
  }
  return out;
}

}  // namespace yktgw::status
