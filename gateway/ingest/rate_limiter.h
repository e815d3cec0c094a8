#pragma once
// Per-terminal token buckets: each terminal may send `rate_per_s` messages a second on average
// and `burst` back to back. One terminal that floods (broken firmware, a stolen credential) then
// costs the gateway a map lookup per message instead of a parse, a decision and a reply, and
// the others keep their latency.

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace yktgw {

class TerminalRateLimiter {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  enum class Verdict : std::uint8_t {
    allow,
    refuse_with_reply,  // over the limit; the first refusal of this terminal in a second
    refuse_silently,    // over the limit; the terminal was told within the last second
  };

  // rate_per_s <= 0 disables the limit (every message is allowed).
  TerminalRateLimiter(int rate_per_s, int burst, std::size_t max_terminals = 100'000);

  bool enabled() const { return rate_per_s_ > 0; }
  Verdict admit(std::string_view terminal, TimePoint now);
  std::size_t tracked_terminals() const;

 private:
  struct Bucket {
    double tokens = 0;
    TimePoint refilled{};
    TimePoint last_reply{};
    bool replied = false;
  };
  void prune(TimePoint now);

  const double rate_per_s_;
  const double burst_;
  const std::size_t max_terminals_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace yktgw
