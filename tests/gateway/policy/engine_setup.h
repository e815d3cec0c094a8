#pragma once
// What the policy engine's tests and the in-process benchmarks set up alike: the default holder
// groups with their attribute bits, fixed policies from TOML text, and a chip-card tap.

#include <memory>
#include <string>
#include <vector>

#include "gateway/core/holder.h"
#include "gateway/core/records.h"
#include "gateway/core/result.h"
#include "gateway/policy/policies.h"

namespace yktgw::testing {

// The default cardlist.groups (kDefaultCardGroups) in order: group i is attribute bit
// kFirstGroupBit + i.
inline const std::vector<std::string> kDefaultGroups = {"staff", "student", "site_worker",
                                                        "resident"};
inline constexpr HolderAttributes kStaff = 1u << (kFirstGroupBit + 0);
inline constexpr HolderAttributes kStudent = 1u << (kFirstGroupBit + 1);
inline constexpr HolderAttributes kSiteWorker = 1u << (kFirstGroupBit + 2);
inline constexpr HolderAttributes kResident = 1u << (kFirstGroupBit + 3);

// `toml` parsed as a policies file named `name` (for error messages), with the default groups.
inline Result<std::unique_ptr<PolicyFile>> fixed_policies(const std::string& toml,
                                                          const std::string& name) {
  PolicyLoadOptions options;
  options.group_names = kDefaultGroups;
  auto parsed = parse_policies(toml, name, options);
  if (!parsed) return parsed.error();
  return std::make_unique<PolicyFile>(std::move(parsed.value()));
}

// A chip-card tap as a terminal of `scenario` sends it.
inline AuthRequest card_tap(std::string req_id, std::string terminal, std::string scenario,
                            std::string card_no, Fen amount, UtcMillis ts_ms) {
  AuthRequest r;
  r.req_id = std::move(req_id);
  r.terminal = std::move(terminal);
  r.scenario = std::move(scenario);
  r.ts_ms = ts_ms;
  r.credential.type = CredentialType::card;
  r.credential.card_no = std::move(card_no);
  r.amount_fen = amount;
  return r;
}

}  // namespace yktgw::testing
