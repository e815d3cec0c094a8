#include "gateway/credentials/group_names.h"

#include <gtest/gtest.h>

#include <string>

namespace yktgw {
namespace {

TEST(GroupNames, DefaultListTakesBitsInOrder) {
  auto g = GroupNames::parse(kDefaultGroupList);
  ASSERT_TRUE(g) << g.error().message;
  EXPECT_EQ(g->names(), (std::vector<std::string>{"staff", "student", "site_worker", "resident"}));
  EXPECT_EQ(g->bit("staff"), HolderAttributes{1} << kFirstGroupBit);
  EXPECT_EQ(g->bit("student"), HolderAttributes{1} << (kFirstGroupBit + 1));
  EXPECT_EQ(g->bit("resident"), HolderAttributes{1} << (kFirstGroupBit + 3));
  EXPECT_FALSE(g->bit("Staff"));
  EXPECT_FALSE(g->bit(""));
}

TEST(GroupNames, BlanksAroundNamesAndEmptyList) {
  auto g = GroupNames::parse("  a , b_2\t,c ");
  ASSERT_TRUE(g) << g.error().message;
  EXPECT_EQ(g->names(), (std::vector<std::string>{"a", "b_2", "c"}));
  auto empty = GroupNames::parse("  ");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->names().empty());
}

TEST(GroupNames, RefusesBadLists) {
  std::string too_many;
  for (int i = 0; i <= kMaxGroups; ++i) too_many += (i ? ",g" : "g") + std::to_string(i);
  for (const std::string& list :
       {std::string("a,,b"), std::string("a,"), std::string(",a"), std::string("Staff"),
        std::string("site-worker"), std::string("a,a"), std::string(33, 'g'),
        std::string("staff,disabled"), std::string("local"), too_many}) {
    auto g = GroupNames::parse(list);
    EXPECT_FALSE(g) << list;
    if (!g) {
      EXPECT_TRUE(g.error().message.starts_with("cardlist.groups: ")) << g.error().message;
    }
  }
  std::string max;
  for (int i = 0; i < kMaxGroups; ++i) max += (i ? ",g" : "g") + std::to_string(i);
  auto g = GroupNames::parse(max);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->bit("g23"), HolderAttributes{1} << 31);
}

TEST(FixedAttributes, DisabledAndLocal) {
  EXPECT_EQ(fixed_attribute_bit("disabled"), kAttrDisabled);
  EXPECT_EQ(fixed_attribute_bit("local"), kAttrLocalResident);
  EXPECT_FALSE(fixed_attribute_bit("veteran"));
}

}  // namespace
}  // namespace yktgw
