#include "terminals_sim/sim/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace yktgw::sim {
namespace {

constexpr unsigned kLinearBits = 7;                   // values < 128 get one bucket each
constexpr std::uint64_t kLinear = 1u << kLinearBits;  // 128
constexpr std::uint64_t kHalf = kLinear / 2;          // 64 sub-buckets per power of two
constexpr std::size_t kBuckets = kLinear + (64 - kLinearBits) * kHalf;

}  // namespace

LatencyHistogram::LatencyHistogram() : buckets_(kBuckets, 0) {}

std::size_t LatencyHistogram::bucket_of(std::uint64_t us) {
  if (us < kLinear) return static_cast<std::size_t>(us);
  // shift >= 1 puts (us >> shift) in [64, 127]: 64 sub-buckets per power of two.
  const unsigned shift = static_cast<unsigned>(std::bit_width(us)) - kLinearBits;
  return static_cast<std::size_t>(kLinear + (shift - 1) * kHalf + ((us >> shift) - kHalf));
}

std::uint64_t LatencyHistogram::bucket_upper(std::size_t index) {
  if (index < kLinear) return index;
  const std::uint64_t rest = index - kLinear;
  const unsigned shift = static_cast<unsigned>(rest / kHalf) + 1;
  const std::uint64_t sub = kHalf + rest % kHalf;
  return ((sub + 1) << shift) - 1;
}

void LatencyHistogram::record_us(std::uint64_t us) {
  ++buckets_[bucket_of(us)];
  ++count_;
  max_ = std::max(max_, us);
}

void LatencyHistogram::record(std::chrono::nanoseconds d) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  record_us(us < 0 ? 0 : static_cast<std::uint64_t>(us));
}

std::uint64_t LatencyHistogram::percentile_us(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const auto rank = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_))));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= rank) return std::min(bucket_upper(i), max_);
  }
  return max_;
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (std::size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
}

}  // namespace yktgw::sim
