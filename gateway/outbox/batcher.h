#pragma once
// Groups encoded record lines into batches for one destination. A batch closes when it holds
// batch_max_records lines, when the next line would take it past batch_max_bytes (uncompressed),
// or when its first line has waited batch_linger_ms: full batches under load, bounded latency
// when quiet. Pure value code: the caller supplies the time.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/core/records.h"

namespace yktgw::outbox {

struct BatchLimits {
  int max_records = 500;
  int max_bytes = 262'144;
  std::chrono::milliseconds linger{200};
};

struct ClosedBatch {
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;
  std::uint32_t count = 0;
  std::string lines;  // uncompressed JSON lines
  UtcMillis oldest_received_ms = 0;
  bool operator==(const ClosedBatch&) const = default;
};

class Batcher {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  explicit Batcher(BatchLimits limits) : limits_(limits) {}

  // Adds one line (with its '\n'). Returns the batch this addition closed, if any: the open one
  // when `line` does not fit its byte budget (then `line` starts the next batch), or the one
  // `line` filled to max_records. A single line larger than max_bytes travels alone.
  std::optional<ClosedBatch> add(std::uint64_t seq, std::string_view line, UtcMillis received_ms,
                                 TimePoint now);

  // Closes the open batch when its linger time is over.
  std::optional<ClosedBatch> close_if_due(TimePoint now);
  // Closes the open batch now, if it has any line.
  std::optional<ClosedBatch> close();

  // When the open batch will be due; nullopt when nothing is open.
  std::optional<TimePoint> deadline() const;
  std::uint32_t open_count() const { return open_.count; }
  std::optional<UtcMillis> open_oldest_received_ms() const;

 private:
  BatchLimits limits_;
  ClosedBatch open_;
  TimePoint opened_at_{};
};

}  // namespace yktgw::outbox
