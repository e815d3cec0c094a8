#include "gateway/ingest/rate_limiter.h"

#include <algorithm>

namespace yktgw {

TerminalRateLimiter::TerminalRateLimiter(int rate_per_s, int burst, std::size_t max_terminals)
    : rate_per_s_(rate_per_s),
      burst_(std::max(1, std::max(burst, rate_per_s))),
      max_terminals_(std::max<std::size_t>(max_terminals, 1)) {}

TerminalRateLimiter::Verdict TerminalRateLimiter::admit(std::string_view terminal, TimePoint now) {
  if (!enabled()) return Verdict::allow;
  std::lock_guard lock(mu_);
  auto it = buckets_.find(std::string(terminal));
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_terminals_) prune(now);
    it = buckets_.emplace(std::string(terminal), Bucket{burst_, now, {}, false}).first;
  }
  Bucket& b = it->second;
  if (now > b.refilled) {
    const double elapsed_s = std::chrono::duration<double>(now - b.refilled).count();
    b.tokens = std::min(burst_, b.tokens + elapsed_s * rate_per_s_);
    b.refilled = now;
  }
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return Verdict::allow;
  }
  if (!b.replied || now - b.last_reply >= std::chrono::seconds(1)) {
    b.replied = true;
    b.last_reply = now;
    return Verdict::refuse_with_reply;
  }
  return Verdict::refuse_silently;
}

std::size_t TerminalRateLimiter::tracked_terminals() const {
  std::lock_guard lock(mu_);
  return buckets_.size();
}

void TerminalRateLimiter::prune(TimePoint now) {
  // A bucket that would be full again carries no state worth keeping.
  const auto full_after = std::chrono::duration<double>(burst_ / rate_per_s_);
  std::erase_if(buckets_, [&](const auto& kv) { return now - kv.second.refilled >= full_after; });
  // Still full of busy terminals (ids made up to exhaust memory): start over. Every terminal
  // then gets a fresh burst, which is the lesser harm.
  if (buckets_.size() >= max_terminals_) buckets_.clear();
}

}  // namespace yktgw
