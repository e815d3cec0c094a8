#pragma once
// A fixed-bucket latency histogram that many threads add to without a lock. The status page
// turns the difference of two snapshots into per-second p50/p99, and /metrics exports the
// buckets as a Prometheus histogram, so the bucket bounds are part of the metrics' contract.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace yktgw {

// Upper bounds in microseconds; a last, open bucket takes everything above the largest.
inline constexpr std::array<std::uint64_t, 16> kLatencyBoundsUs = {
    100,    250,     500,     1'000,   2'500,     5'000,     10'000,    25'000,
    50'000, 100'000, 250'000, 500'000, 1'000'000, 2'500'000, 5'000'000, 10'000'000};
inline constexpr std::size_t kLatencyBuckets = kLatencyBoundsUs.size() + 1;

struct LatencySnapshot {
  std::array<std::uint64_t, kLatencyBuckets> counts{};  // per bucket, not cumulative
  std::uint64_t sum_us = 0;
  std::uint64_t total() const {
    std::uint64_t n = 0;
    for (auto c : counts) n += c;
    return n;
  }
  // What happened between `earlier` and this snapshot.
  LatencySnapshot minus(const LatencySnapshot& earlier) const {
    LatencySnapshot d;
    for (std::size_t i = 0; i < kLatencyBuckets; ++i) d.counts[i] = counts[i] - earlier.counts[i];
    d.sum_us = sum_us - earlier.sum_us;
    return d;
  }
  bool operator==(const LatencySnapshot&) const = default;
};

// The q-quantile (0 < q <= 1) in microseconds, interpolated linearly inside its bucket; the open
// bucket reports the largest bound. 0 when the snapshot is empty.
double latency_quantile_us(const LatencySnapshot& s, double q);

class LatencyBuckets {
 public:
  void add(std::uint64_t us) {
    std::size_t i = 0;
    while (i < kLatencyBoundsUs.size() && us > kLatencyBoundsUs[i]) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    sum_us_.fetch_add(us, std::memory_order_relaxed);
  }
  LatencySnapshot snapshot() const {
    LatencySnapshot s;
    for (std::size_t i = 0; i < kLatencyBuckets; ++i)
      s.counts[i] = counts_[i].load(std::memory_order_relaxed);
    s.sum_us = sum_us_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  std::array<std::atomic<std::uint64_t>, kLatencyBuckets> counts_{};
  std::atomic<std::uint64_t> sum_us_{0};
};

}  // namespace yktgw
