#pragma once
// Anything a remote party can trigger is logged at most once per interval per key, with the
// number of occurrences that were held back, so a flooding terminal cannot flood the log.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace yktgw {

class RateLimiter {
 public:
  explicit RateLimiter(std::chrono::milliseconds interval) : interval_(interval) {}

  void set_interval(std::chrono::milliseconds interval) {
    std::lock_guard lock(mu_);
    interval_ = interval;
  }

  // True when the caller should log now; `suppressed` gets how many were held back since the
  // last time this key was logged.
  bool allow(const std::string& key, std::chrono::steady_clock::time_point now,
             std::uint64_t& suppressed) {
    std::lock_guard lock(mu_);
    auto& slot = slots_[key];
    if (slot.logged_once && now - slot.last < interval_) {
      ++slot.held;
      return false;
    }
    suppressed = slot.held;
    slot.held = 0;
    slot.last = now;
    slot.logged_once = true;
    return true;
  }

 private:
  struct Slot {
    std::chrono::steady_clock::time_point last{};
    std::uint64_t held = 0;
    bool logged_once = false;
  };
  std::mutex mu_;
  std::chrono::milliseconds interval_;
  std::unordered_map<std::string, Slot> slots_;
};

}  // namespace yktgw
