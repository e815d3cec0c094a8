#pragma once
// Round trip times in microseconds, kept as a log-linear histogram so that a run of millions
// of requests takes a fixed few kilobytes: values below 128 us are exact, larger ones fall in
// buckets no wider than 1/64 of their value. The maximum is exact.

#include <chrono>
#include <cstdint>
#include <vector>

namespace yktgw::sim {

class LatencyHistogram {
 public:
  LatencyHistogram();

  void record_us(std::uint64_t us);
  // Negative durations (a clock step, a response before its intended send) count as zero.
  void record(std::chrono::nanoseconds d);

  std::uint64_t count() const { return count_; }
  std::uint64_t max_us() const { return max_; }
  // The q-quantile (q in 0..1) rounded up to its bucket's upper edge, so it over-reports by at
  // most 1/64 and never exceeds the exact maximum; 0 when empty.
  std::uint64_t percentile_us(double q) const;

  void merge(const LatencyHistogram& other);

 private:
  static std::size_t bucket_of(std::uint64_t us);
  static std::uint64_t bucket_upper(std::size_t index);

  std::vector<std::uint64_t> buckets_;
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace yktgw::sim
