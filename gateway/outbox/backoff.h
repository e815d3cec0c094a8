#pragma once
// Retry delays for a destination that asked to be left alone: exponential growth with "full
// jitter" (a uniformly random delay between zero and the exponential cap), so many gateways
// that lost the same platform at the same moment do not come back in lock step.

#include <chrono>
#include <cstdint>
#include <string_view>

namespace yktgw::outbox {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds min, std::chrono::milliseconds max) : min_(min), max_(max) {}

  // The cap after `failures` consecutive failures (1 = first): min * 2^(failures-1), at most max.
  std::chrono::milliseconds cap(int failures) const;
  // `unit_random` in [0, 1]: the jitter draw. The delay is never below `floor` (a platform's
  // Retry-After), and never below 1 ms, so a retry never spins.
  std::chrono::milliseconds delay(int failures, double unit_random,
                                  std::chrono::milliseconds floor = {}) const;

 private:
  std::chrono::milliseconds min_;
  std::chrono::milliseconds max_;
};

// A link that knows when the platform wants to hear from it again says so in the
// DeliveryResult's detail as "retry_after_ms=<n>" (HTTPS: the Retry-After header of a 429 or
// 503). Returns 0 when the detail has no such field.
std::chrono::milliseconds retry_after_from_detail(std::string_view detail);

}  // namespace yktgw::outbox
