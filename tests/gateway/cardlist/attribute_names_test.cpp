#include "gateway/cardlist/attribute_names.h"

#include <gtest/gtest.h>

namespace yktgw {
namespace {

TEST(AttributeNames, ParsesTheConfigList) {
  auto names = AttributeNames::parse(" staff, student ,site_worker,resident ");
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(names->groups(),
            (std::vector<std::string>{"staff", "student", "site_worker", "resident"}));
  EXPECT_EQ(names->bit("staff"), 1u << kFirstGroupBit);
  EXPECT_EQ(names->bit("resident"), 1u << (kFirstGroupBit + 3));
  EXPECT_EQ(names->bit("disabled"), kAttrDisabled);
  EXPECT_EQ(names->bit("local"), kAttrLocalResident);
  EXPECT_EQ(names->bit("nobody"), std::nullopt);
  EXPECT_TRUE(AttributeNames::parse("")->groups().empty());
}

TEST(AttributeNames, RefusesBadLists) {
  EXPECT_EQ(AttributeNames::parse("staff,staff").error().code, "bad_group_name");
  EXPECT_EQ(AttributeNames::parse("staff,,student").error().code, "bad_group_name");
  EXPECT_EQ(AttributeNames::parse("Staff").error().code, "bad_group_name");
  EXPECT_EQ(AttributeNames::parse("local").error().code, "bad_group_name");
  EXPECT_EQ(AttributeNames::parse(std::string(33, 'a')).error().code, "bad_group_name");
  std::string many;
  for (int i = 0; i < kMaxGroups + 1; ++i) many += (i ? ",g" : "g") + std::to_string(i);
  EXPECT_EQ(AttributeNames::parse(many).error().code, "too_many_groups");
}

TEST(AttributeNames, ParsesAndRefusesSets) {
  auto names = AttributeNames::parse("staff,student").value();
  EXPECT_EQ(names.parse_set("disabled; local;student").value(),
            kAttrDisabled | kAttrLocalResident | (1u << (kFirstGroupBit + 1)));
  EXPECT_EQ(names.parse_set("").value(), 0u);
  auto bad = names.parse_set("staff;teacher");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("'teacher'"), std::string::npos);
}

TEST(AttributeNames, AddAppendsOnce) {
  AttributeNames names;
  EXPECT_EQ(names.add("staff").value(), 1u << kFirstGroupBit);
  EXPECT_EQ(names.add("student").value(), 1u << (kFirstGroupBit + 1));
  EXPECT_EQ(names.add("staff").value(), 1u << kFirstGroupBit);
  EXPECT_EQ(names.groups().size(), 2u);
  EXPECT_FALSE(names.add("Bad").ok());
}

TEST(AttributeMap, MovesGroupsByNameAndKeepsFixedBits) {
  auto from = AttributeNames::parse("a,b,c").value();
  auto to = AttributeNames::parse("c,a").value();
  const AttributeMap map(from, to);
  EXPECT_FALSE(map.identity());
  const HolderAttributes a = 1u << kFirstGroupBit, b = a << 1, c = a << 2;
  EXPECT_EQ(map(kAttrDisabled | a | b | c), kAttrDisabled | (1u << kFirstGroupBit) | a << 1);
  EXPECT_EQ(map(b), 0u);  // `to` has no b
  EXPECT_TRUE(AttributeMap(to, AttributeNames::parse("c,a,d").value()).identity());
  EXPECT_FALSE(AttributeMap(AttributeNames::parse("c,a,d").value(), to).identity());
}

TEST(AttributeNames, FormatSetIsTheInverseOfParseSet) {
  auto names = AttributeNames::parse("staff,student").value();
  EXPECT_EQ(names.format_set(0), "");
  EXPECT_EQ(names.format_set(names.parse_set("student;disabled;local").value()),
            "disabled;local;student");
  EXPECT_EQ(names.parse_set(names.format_set(names.parse_set("staff;student").value())).value(),
            names.parse_set("staff;student").value());
  // A bit the table does not name is left out rather than invented.
  EXPECT_EQ(names.format_set(HolderAttributes{1} << (kFirstGroupBit + 5)), "");
}

}  // namespace
}  // namespace yktgw
