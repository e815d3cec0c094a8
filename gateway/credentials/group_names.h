#pragma once
// Named holder groups (staff, students, site workers, ...) and the attribute bits they take.
// The order of config key cardlist.groups fixes the bits: the i-th name is bit kFirstGroupBit+i.
// QR payloads and the card list both name groups, and both must map a name to the same bit, so
// both go through this one class.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/core/holder.h"
#include "gateway/core/result.h"

namespace yktgw {

// The default of config key cardlist.groups.
inline constexpr std::string_view kDefaultGroupList = "staff,student,site_worker,resident";

class GroupNames {
 public:
  GroupNames() = default;  // no groups
  // Comma-separated names, blanks around them ignored; each 1-32 of [a-z0-9_], not a fixed
  // attribute name ("disabled", "local"), no repeats, at most kMaxGroups. An empty list is
  // allowed. The card list's AttributeNames (gateway/cardlist) reads the same key by the same
  // rules.
  static Result<GroupNames> parse(std::string_view list);

  // The bit for a group name; nullopt for a name the gateway does not know.
  std::optional<HolderAttributes> bit(std::string_view name) const;
  const std::vector<std::string>& names() const { return names_; }

 private:
  std::vector<std::string> names_;
};

// The bit for the fixed attribute names a QR payload's "attr" may carry, "disabled" and
// "local"; nullopt for any other name.
std::optional<HolderAttributes> fixed_attribute_bit(std::string_view name);

}  // namespace yktgw
