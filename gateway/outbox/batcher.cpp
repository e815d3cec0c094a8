#include "gateway/outbox/batcher.h"

#include <algorithm>
#include <utility>

namespace yktgw::outbox {

std::optional<ClosedBatch> Batcher::add(std::uint64_t seq, std::string_view line,
                                        UtcMillis received_ms, TimePoint now) {
  std::optional<ClosedBatch> closed;
  if (open_.count > 0 &&
      open_.lines.size() + line.size() > static_cast<std::size_t>(limits_.max_bytes)) {
    closed = close();
  }
  if (open_.count == 0) {
    open_.first_seq = seq;
    open_.oldest_received_ms = received_ms;
    opened_at_ = now;
  }
  open_.last_seq = seq;
  open_.oldest_received_ms = std::min(open_.oldest_received_ms, received_ms);
  open_.lines.append(line);
  ++open_.count;
  // At most one batch closes per call: a byte overflow leaves a one-line batch open, and
  // max_records == 1 closes every batch here, so the byte rule never fires with it.
  if (open_.count >= static_cast<std::uint32_t>(std::max(1, limits_.max_records))) {
    closed = close();
  }
  return closed;
}

std::optional<ClosedBatch> Batcher::close_if_due(TimePoint now) {
  if (open_.count == 0 || now - opened_at_ < limits_.linger) return std::nullopt;
  return close();
}

std::optional<ClosedBatch> Batcher::close() {
  if (open_.count == 0) return std::nullopt;
  ClosedBatch out = std::move(open_);
  open_ = ClosedBatch{};
  return out;
}

std::optional<Batcher::TimePoint> Batcher::deadline() const {
  if (open_.count == 0) return std::nullopt;
  return opened_at_ + limits_.linger;
}

std::optional<UtcMillis> Batcher::open_oldest_received_ms() const {
  if (open_.count == 0) return std::nullopt;
  return open_.oldest_received_ms;
}

}  // namespace yktgw::outbox
