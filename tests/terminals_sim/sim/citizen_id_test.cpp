#include "terminals_sim/sim/citizen_id.h"

#include <gtest/gtest.h>

namespace yktgw::sim {
namespace {

TEST(CitizenId, KnownValidNumbers) {
  // The worked examples of GB 11643-1999, and one with a plain digit check.
  EXPECT_TRUE(is_valid_citizen_id("11010519491231002X"));
  EXPECT_TRUE(is_valid_citizen_id("440524188001010014"));
  EXPECT_TRUE(is_valid_citizen_id("110101199003074477"));
}

TEST(CitizenId, CheckCharacter) {
  EXPECT_EQ(citizen_id_check_char("11010519491231002"), 'X');
  EXPECT_EQ(citizen_id_check_char("44052418800101001"), '4');
  EXPECT_EQ(citizen_id_check_char("11010119900307447"), '7');
}

TEST(CitizenId, RejectsWrongCheckAndShape) {
  EXPECT_FALSE(is_valid_citizen_id("110105194912310021"));  // check should be X
  EXPECT_FALSE(is_valid_citizen_id("11010519491231002x"));  // lower-case x is not the form
  EXPECT_FALSE(is_valid_citizen_id("11010519491231002"));   // 17 characters
  EXPECT_FALSE(is_valid_citizen_id("11010519491231002X0"));
  EXPECT_FALSE(is_valid_citizen_id("1101051949123100AX"));
  EXPECT_FALSE(is_valid_citizen_id(""));
  EXPECT_EQ(citizen_id_check_char("1101051949123100"), std::nullopt);
  EXPECT_EQ(citizen_id_check_char("1101051949123100A"), std::nullopt);
}

TEST(CitizenId, EverySingleDigitChangeIsCaught) {
  const std::string good = "11010519491231002X";
  for (std::size_t i = 0; i < 17; ++i) {
    for (char d = '0'; d <= '9'; ++d) {
      if (d == good[i]) continue;
      std::string bad = good;
      bad[i] = d;
      EXPECT_FALSE(is_valid_citizen_id(bad)) << bad;
    }
  }
}

TEST(CitizenId, MakeBuildsValidNumbers) {
  const auto id = make_citizen_id("500156", BirthDate{1948, 2, 29}, 37);
  EXPECT_EQ(id.substr(0, 17), "50015619480229037");
  EXPECT_TRUE(is_valid_citizen_id(id));
  EXPECT_EQ(make_citizen_id("110105", BirthDate{1949, 12, 31}, 2), "11010519491231002X");
}

TEST(CitizenId, Calendar) {
  EXPECT_TRUE(is_leap_year(2000));
  EXPECT_FALSE(is_leap_year(1900));
  EXPECT_TRUE(is_leap_year(1948));
  EXPECT_EQ(days_in_month(1948, 2), 29);
  EXPECT_EQ(days_in_month(1949, 2), 28);
  EXPECT_EQ(days_in_month(1949, 12), 31);
  EXPECT_EQ(days_in_month(1949, 11), 30);
}

}  // namespace
}  // namespace yktgw::sim
