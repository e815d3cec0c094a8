#pragma once
// The live charts' data: one sample a second, derived from two consecutive cumulative
// snapshots, kept in a ring of the last few minutes.

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "gateway/status/status_source.h"

namespace yktgw::status {

struct SeriesSample {
  UtcMillis t_ms = 0;  // wall time of the later snapshot
  double approved_per_s = 0;
  double declined_per_s = 0;
  std::map<std::string, double> declined_per_s_by_reason;  // reasons seen in this interval
  double latency_p50_ms = 0;  // of the auth requests answered in this interval; 0 when none
  double latency_p99_ms = 0;
  double txn_per_s = 0;                                 // records stored (new, not duplicates)
  std::map<std::string, std::uint64_t> outbox_backlog;  // per destination, at t_ms
  bool operator==(const SeriesSample&) const = default;
};

// The sample between two snapshots `dt_s` seconds apart (dt_s > 0).
SeriesSample derive_sample(const StatusSnapshot& before, const StatusSnapshot& after, double dt_s);

class SeriesRing {
 public:
  explicit SeriesRing(std::size_t capacity) : capacity_(capacity) {}
  // Adds the snapshot taken at monotonic time `steady_ms`; from the second on, appends a sample.
  void add(const StatusSnapshot& snapshot, std::int64_t steady_ms);
  // Oldest first; only samples after `since_ms` (wall) when given.
  std::vector<SeriesSample> samples(UtcMillis since_ms = 0) const;
  std::size_t capacity() const { return capacity_; }

 private:
  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::optional<StatusSnapshot> last_;
  std::int64_t last_steady_ms_ = 0;
  std::vector<SeriesSample> ring_;  // ring_[(head_ + i) % capacity_], i < size
  std::size_t head_ = 0;
};

}  // namespace yktgw::status
