#pragma once
// Sanitizer builds (tests/sanitizers.sh) run everything several times slower: ASan and UBSan
// about 2-3 times, TSan 5-15 times, more on a loaded box. Bounds that only stand for "answered
// promptly" or "did not hang" (deadlines, heartbeat timeouts, waits) are widened by this factor
// there; bounds that are the point of a test (a latency target) are not, and such a test says
// so itself. GCC and Clang both define these macros for the sanitized translation unit.

#include <chrono>

namespace yktgw::testing {

#if defined(__SANITIZE_THREAD__)
inline constexpr int kSanitizerSlowdown = 10;
#elif defined(__SANITIZE_ADDRESS__)
inline constexpr int kSanitizerSlowdown = 4;
#else
inline constexpr int kSanitizerSlowdown = 1;
#endif

// `d` as is in a normal build, kSanitizerSlowdown times `d` under a sanitizer.
template <class Rep, class Period>
constexpr std::chrono::duration<Rep, Period> widened(std::chrono::duration<Rep, Period> d) {
  return d * kSanitizerSlowdown;
}

}  // namespace yktgw::testing
