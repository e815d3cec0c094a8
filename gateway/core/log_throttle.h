#pragma once
// Warnings a remote party can trigger (bad input, failed handshakes, platform errors) are logged
// at most once per interval per key, with the count held back meanwhile, so nobody outside can
// flood the log. LogThrottle serves one thread; SharedLogThrottle adds a lock for many.

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace yktgw {

class LogThrottle {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  explicit LogThrottle(std::chrono::milliseconds interval) : interval_(interval) {}

  void set_interval(std::chrono::milliseconds interval) { interval_ = interval; }

  // True when the caller should log now; `suppressed` gets how many were held back since the
  // last time this key was logged.
  bool allow(std::string_view key, TimePoint now, std::uint64_t& suppressed) {
    auto it = slots_.find(key);
    if (it == slots_.end()) it = slots_.emplace(std::string(key), Slot{}).first;
    Slot& slot = it->second;
    if (slot.logged && now - slot.last < interval_) {
      ++slot.held;
      return false;
    }
    suppressed = slot.held;
    slot = Slot{now, 0, true};
    return true;
  }

 private:
  struct Slot {
    TimePoint last{};
    std::uint64_t held = 0;
    bool logged = false;
  };
  std::chrono::milliseconds interval_;
  std::map<std::string, Slot, std::less<>> slots_;  // keys are a handful of fixed names
};

class SharedLogThrottle {
 public:
  explicit SharedLogThrottle(std::chrono::milliseconds interval) : throttle_(interval) {}
  void set_interval(std::chrono::milliseconds interval) {
    std::lock_guard lock(mu_);
    throttle_.set_interval(interval);
  }
  bool allow(std::string_view key, LogThrottle::TimePoint now, std::uint64_t& suppressed) {
    std::lock_guard lock(mu_);
    return throttle_.allow(key, now, suppressed);
  }

 private:
  std::mutex mu_;
  LogThrottle throttle_;
};

}  // namespace yktgw
