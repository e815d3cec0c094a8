#include "gateway/core/latency_buckets.h"

#include <algorithm>
#include <cmath>

namespace yktgw {

double latency_quantile_us(const LatencySnapshot& s, double q) {
  const std::uint64_t n = s.total();
  if (n == 0) return 0;
  // Rank of the wanted observation, 1-based: the smallest value with at least q*n at or below.
  const double rank = std::max(1.0, std::ceil(q * static_cast<double>(n)));
  std::uint64_t below = 0;
  for (std::size_t i = 0; i < kLatencyBuckets; ++i) {
    const std::uint64_t c = s.counts[i];
    if (c == 0) continue;
    if (static_cast<double>(below + c) >= rank) {
      if (i == kLatencyBoundsUs.size()) return static_cast<double>(kLatencyBoundsUs.back());
      const double lo = i == 0 ? 0.0 : static_cast<double>(kLatencyBoundsUs[i - 1]);
      const double hi = static_cast<double>(kLatencyBoundsUs[i]);
      const double within = (rank - static_cast<double>(below)) / static_cast<double>(c);
      return lo + (hi - lo) * within;
    }
    below += c;
  }
  return static_cast<double>(kLatencyBoundsUs.back());
}

}  // namespace yktgw
