#include "gateway/credentials/group_names.h"

#include <algorithm>

namespace yktgw {
namespace {

constexpr std::string_view kDisabledName = "disabled";
constexpr std::string_view kLocalName = "local";

bool is_group_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<GroupNames> GroupNames::parse(std::string_view list) {
  GroupNames out;
  if (trim(list).empty()) return out;
  while (true) {
    const std::size_t comma = list.find(',');
    const std::string_view name = trim(list.substr(0, comma));
    if (name.empty() || name.size() > 32 || !std::all_of(name.begin(), name.end(), is_group_char))
      return make_error("groups",
                        "cardlist.groups: group names must be 1-32 of a-z 0-9 _, "
                        "separated by commas; got '" +
                            std::string(name) + "'");
    if (name == kDisabledName || name == kLocalName)
      return make_error("groups", "cardlist.groups: '" + std::string(name) +
                                      "' is a fixed attribute, not a group name");
    if (out.bit(name))
      return make_error("groups",
                        "cardlist.groups: group '" + std::string(name) + "' listed twice");
    if (out.names_.size() == static_cast<std::size_t>(kMaxGroups))
      return make_error("groups",
                        "cardlist.groups: at most " + std::to_string(kMaxGroups) + " groups");
    out.names_.emplace_back(name);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return out;
}

std::optional<HolderAttributes> GroupNames::bit(std::string_view name) const {
  for (std::size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == name) return HolderAttributes{1} << (kFirstGroupBit + static_cast<int>(i));
  }
  return std::nullopt;
}

std::optional<HolderAttributes> fixed_attribute_bit(std::string_view name) {
  if (name == kDisabledName) return kAttrDisabled;
  if (name == kLocalName) return kAttrLocalResident;
  return std::nullopt;
}

}  // namespace yktgw
