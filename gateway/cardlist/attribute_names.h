#pragma once
// Names for holder attribute bits. The two fixed attributes have fixed names; groups take the
// bits from kFirstGroupBit on in the order of a name table. Every place that stores or sends
// attributes (config, SQLite, the signed feed, the index image) keeps its own table, so bits
// travel by name and a reordered config never turns staff into students.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/core/holder.h"
#include "gateway/core/result.h"

namespace yktgw {

// The default of config key cardlist.groups.
inline constexpr std::string_view kDefaultCardGroups = "staff,student,site_worker,resident";

// Names of the fixed attribute bits, as the CSV import and the docs write them.
inline constexpr std::string_view kAttrNameDisabled = "disabled";
inline constexpr std::string_view kAttrNameLocalResident = "local";

// Bits 0-7 are the fixed attributes; only these are defined so far.
inline constexpr HolderAttributes kFixedAttributes = kAttrDisabled | kAttrLocalResident;

class AttributeNames {
 public:
  AttributeNames() = default;

  // From config: "staff,student"; blanks around names are ignored, an empty text means none.
  static Result<AttributeNames> parse(std::string_view comma_separated);
  static Result<AttributeNames> from(std::vector<std::string> groups);

  // 1-32 of a-z 0-9 _, and not the name of a fixed attribute.
  static bool valid_group_name(std::string_view name);

  const std::vector<std::string>& groups() const { return groups_; }

  // The bit of a fixed attribute or group name; nullopt when the name is unknown.
  std::optional<HolderAttributes> bit(std::string_view name) const;

  // "disabled;local;staff" (blanks ignored, empty means none). The error names the first
  // unknown name and the known ones.
  Result<HolderAttributes> parse_set(std::string_view semicolon_separated) const;

  // The names of the bits set in `attributes`, fixed ones first, ";"-separated: the inverse of
  // parse_set. Bits this table does not name are left out.
  std::string format_set(HolderAttributes attributes) const;

  // The bit of `name`, appending it as the next group when absent; an error when the table is
  // full (kMaxGroups) or the name is invalid.
  Result<HolderAttributes> add(std::string_view name);

  bool operator==(const AttributeNames&) const = default;

 private:
  std::vector<std::string> groups_;
};

// Moves attribute bits from one name table to another: fixed bits stay, each group goes to the
// bit of the same name in `to`, groups `to` does not name are dropped.
class AttributeMap {
 public:
  AttributeMap(const AttributeNames& from, const AttributeNames& to);

  HolderAttributes operator()(HolderAttributes a) const {
    if (identity_) return a;
    HolderAttributes out = a & kFixedAttributes;
    std::uint32_t groups = a >> kFirstGroupBit;
    while (groups != 0) {
      const int i = __builtin_ctz(groups);
      out |= target_[static_cast<std::size_t>(i)];
      groups &= groups - 1;
    }
    return out;
  }
  bool identity() const { return identity_; }

 private:
  std::array<HolderAttributes, 32> target_{};  // per source group: its bit in `to`, or 0
  bool identity_ = false;
};

}  // namespace yktgw
