#include "gateway/cardlist/attribute_names.h"

#include <algorithm>
#include <cctype>

namespace yktgw {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  if (trim(text).empty()) return out;
  std::size_t start = 0;
  while (true) {
    const auto end = text.find(sep, start);
    out.push_back(trim(text.substr(start, end - start)));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return out;
}

}  // namespace

bool AttributeNames::valid_group_name(std::string_view name) {
  if (name.empty() || name.size() > 32) return false;
  if (name == kAttrNameDisabled || name == kAttrNameLocalResident) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

Result<AttributeNames> AttributeNames::from(std::vector<std::string> groups) {
  if (groups.size() > static_cast<std::size_t>(kMaxGroups)) {
    return make_error("too_many_groups", std::to_string(groups.size()) + " groups; at most " +
                                             std::to_string(kMaxGroups) +
                                             " fit the attribute bits");
  }
  for (std::size_t i = 0; i < groups.size(); ++i) {
    if (!valid_group_name(groups[i])) {
      return make_error("bad_group_name",
                        "group name '" + groups[i] +
                            "': expected 1-32 of a-z 0-9 _, other than 'disabled' and 'local'");
    }
    if (std::find(groups.begin(), groups.begin() + static_cast<std::ptrdiff_t>(i), groups[i]) !=
        groups.begin() + static_cast<std::ptrdiff_t>(i)) {
      return make_error("bad_group_name", "group name '" + groups[i] + "' appears twice");
    }
  }
  AttributeNames names;
  names.groups_ = std::move(groups);
  return names;
}

Result<AttributeNames> AttributeNames::parse(std::string_view comma_separated) {
  std::vector<std::string> groups;
  for (auto name : split(comma_separated, ',')) groups.emplace_back(name);
  return from(std::move(groups));
}

std::optional<HolderAttributes> AttributeNames::bit(std::string_view name) const {
  if (name == kAttrNameDisabled) return kAttrDisabled;
  if (name == kAttrNameLocalResident) return kAttrLocalResident;
  for (std::size_t i = 0; i < groups_.size(); ++i) {
    if (groups_[i] == name) return HolderAttributes{1} << (kFirstGroupBit + static_cast<int>(i));
  }
  return std::nullopt;
}

std::string AttributeNames::format_set(HolderAttributes attributes) const {
  std::string out;
  auto add = [&out](std::string_view name) {
    if (!out.empty()) out += ';';
    out += name;
  };
  if (attributes & kAttrDisabled) add(kAttrNameDisabled);
  if (attributes & kAttrLocalResident) add(kAttrNameLocalResident);
  for (std::size_t i = 0; i < groups_.size(); ++i) {
    if (attributes & (HolderAttributes{1} << (kFirstGroupBit + static_cast<int>(i)))) {
      add(groups_[i]);
    }
  }
  return out;
}

Result<HolderAttributes> AttributeNames::parse_set(std::string_view semicolon_separated) const {
  HolderAttributes out = 0;
  for (auto name : split(semicolon_separated, ';')) {
    auto b = bit(name);
    if (!b) {
      std::string known =
          std::string(kAttrNameDisabled) + ", " + std::string(kAttrNameLocalResident);
      for (const auto& g : groups_) known += ", " + g;
      return make_error("unknown_attribute",
                        "unknown attribute '" + std::string(name) + "' (known: " + known + ")");
    }
    out |= *b;
  }
  return out;
}

Result<HolderAttributes> AttributeNames::add(std::string_view name) {
  if (auto b = bit(name)) return *b;
  std::vector<std::string> grown = groups_;
  grown.emplace_back(name);
  auto next = from(std::move(grown));
  if (!next) return next.error();
  *this = std::move(next.value());
  return HolderAttributes{1} << (kFirstGroupBit + static_cast<int>(groups_.size()) - 1);
}

AttributeMap::AttributeMap(const AttributeNames& from, const AttributeNames& to) {
  const auto& src = from.groups();
  const auto& dst = to.groups();
  // Same names in the same places (the target may know more): nothing to move.
  identity_ = src.size() <= dst.size() && std::equal(src.begin(), src.end(), dst.begin());
  for (std::size_t i = 0; i < src.size() && i < target_.size(); ++i) {
    if (auto b = to.bit(src[i])) target_[i] = *b;
  }
}

}  // namespace yktgw
