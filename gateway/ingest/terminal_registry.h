#pragma once
// What the gateway knows of each terminal: its retained status, when it was last heard from and
// how many of its messages were refused. Feeds the status page.

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "gateway/core/records.h"

namespace yktgw {

struct TerminalInfo {
  std::string terminal;
  TerminalState state = TerminalState::offline;
  std::string kind;
  std::string firmware;
  std::int64_t cardlist_version = 0;
  UtcMillis last_seen_ms = 0;
  std::uint64_t messages = 0;
  std::uint64_t errors = 0;
  bool operator==(const TerminalInfo&) const = default;
};

class TerminalRegistry {
 public:
  void on_status(const TerminalStatus& s, UtcMillis now_ms);
  void on_message(const std::string& terminal, UtcMillis now_ms, bool refused);
  std::vector<TerminalInfo> snapshot() const;
  std::size_t online_count() const;

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, TerminalInfo> terminals_;
};

}  // namespace yktgw
