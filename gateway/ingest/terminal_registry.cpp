#include "gateway/ingest/terminal_registry.h"

#include <algorithm>

namespace yktgw {

void TerminalRegistry::on_status(const TerminalStatus& s, UtcMillis now_ms) {
  std::lock_guard lock(mu_);
  auto& t = terminals_[s.terminal];
  t.terminal = s.terminal;
  t.state = s.state;
  if (!s.kind.empty()) t.kind = s.kind;
  if (!s.firmware.empty()) t.firmware = s.firmware;
  if (s.cardlist_version != 0) t.cardlist_version = s.cardlist_version;
  t.last_seen_ms = now_ms;
}

void TerminalRegistry::on_message(const std::string& terminal, UtcMillis now_ms, bool refused) {
  std::lock_guard lock(mu_);
  auto& t = terminals_[terminal];
  t.terminal = terminal;
  t.state = TerminalState::online;  // it is publishing, so it is connected
  t.last_seen_ms = now_ms;
  ++t.messages;
  if (refused) ++t.errors;
}

std::vector<TerminalInfo> TerminalRegistry::snapshot() const {
  std::vector<TerminalInfo> out;
  {
    std::lock_guard lock(mu_);
    out.reserve(terminals_.size());
    for (const auto& [_, t] : terminals_) out.push_back(t);
  }
  std::sort(out.begin(), out.end(),
            [](const TerminalInfo& a, const TerminalInfo& b) { return a.terminal < b.terminal; });
  return out;
}

std::size_t TerminalRegistry::online_count() const {
  std::lock_guard lock(mu_);
  return static_cast<std::size_t>(
      std::count_if(terminals_.begin(), terminals_.end(),
                    [](const auto& kv) { return kv.second.state == TerminalState::online; }));
}

}  // namespace yktgw
