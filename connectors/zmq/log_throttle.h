#pragma once
// Warnings a remote party can trigger (malformed answers, failed handshakes, reconnect storms)
// are logged at most once per interval per key, with the count held back meanwhile. Used by one
// thread only (a connector's I/O thread), so it takes no lock.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace yktgw::district {

class LogThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  explicit LogThrottle(std::chrono::milliseconds interval) : interval_(interval) {}

  // True when the caller should log now; `suppressed` gets how many were held back since.
  bool allow(std::string_view key, Clock::time_point now, std::uint64_t& suppressed) {
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
    Clock::time_point last{};
    std::uint64_t held = 0;
    bool logged = false;
  };
  std::chrono::milliseconds interval_;
  std::map<std::string, Slot, std::less<>> slots_;  // keys are a handful of fixed names
};

}  // namespace yktgw::district
