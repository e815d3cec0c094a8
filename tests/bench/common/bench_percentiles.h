#pragma once
// Latency percentiles of the in-process benchmarks: samples taken in nanoseconds, figures in
// microseconds.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace yktgw::bench {

struct Percentiles {
  double p50 = 0;
  double p99 = 0;
  double p999 = 0;
  double max = 0;
};

// Sorts `ns` in place; all zero when there are no samples.
inline Percentiles percentiles(std::vector<std::int64_t>& ns) {
  Percentiles p;
  if (ns.empty()) return p;
  std::sort(ns.begin(), ns.end());
  auto at = [&](double q) {
    return static_cast<double>(
               ns[static_cast<std::size_t>(q * static_cast<double>(ns.size() - 1))]) /
           1000.0;
  };
  p.p50 = at(0.50);
  p.p99 = at(0.99);
  p.p999 = at(0.999);
  p.max = static_cast<double>(ns.back()) / 1000.0;
  return p;
}

}  // namespace yktgw::bench
