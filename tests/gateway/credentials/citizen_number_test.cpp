#include "gateway/credentials/citizen_number.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "tests/gateway/credentials/test_support.h"

namespace yktgw {
namespace {

using testing::kNowMs;

const BirthDate kToday{2025, 11, 29};

struct ValidCase {
  const char* number;
  IssuerRegion region;
  BirthDate birth;
};

TEST(CitizenNumber, AcceptsValidNumbers) {
  const ValidCase cases[] = {
      {"11010519491231002X", 11, {1949, 12, 31}},  // the example of GB 11643-1999, check X
      {"11010519491231002x", 11, {1949, 12, 31}},  // lower-case x is what some readers send
      {"500156195301011239", 50, {1953, 1, 1}},    // docs/terminal-protocol.md example
      {"500156195001011237", 50, {1950, 1, 1}},
      {"510107196503154560", 51, {1965, 3, 15}},
      {"540102199001010011", 54, {1990, 1, 1}},
      {"500102200002290017", 50, {2000, 2, 29}},  // 2000 is a leap year (divisible by 400)
      {"500102202402291237", 50, {2024, 2, 29}},
      {"500156190001011234", 50, {1900, 1, 1}},    // first accepted day
      {"500156202511290013", 50, {2025, 11, 29}},  // born today
      {"820000200101010013", 82, {2001, 1, 1}},    // Macao
      {"710000200101010018", 71, {2001, 1, 1}},    // Taiwan
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.number);
    const auto info = classify_card_number(c.number, kToday);
    ASSERT_TRUE(info.has_value());
    EXPECT_EQ(info->kind, CardNumberKind::citizen_number);
    EXPECT_EQ(info->region, c.region);
    EXPECT_EQ(info->birth, c.birth);
  }
}

TEST(CitizenNumber, RefusesInvalidNumbers) {
  const char* cases[] = {
      "110105194912310021",  // check digit wrong (should be X)
      "500156195301011238",  // check digit off by one
      "500156195301011230",
      "500156195301011X39",   // X in the middle
      "50015619530101123a",   // letter other than x
      "500102190002290010",   // 1900-02-29: 1900 is not a leap year (check digit right)
      "500156202502301235",   // 2025-02-30
      "500156195013011234",   // month 13
      "500156195001321235",   // day 32
      "500156195001001231",   // day 0
      "440524188001010014",   // 1880: valid per the standard, but before 1900
      "500156202511300015",   // born tomorrow
      "500156202601010011",   // next year
      "660000200101010013",   // 66 is not a province code
      "100000200101010014",   // 10 is not a province code
      " 500156195301011239",  // as read: no trimming
      "50015619530101123 9",
      "５００１５６１９５３０１０１１２３９",  // full-width digits
  };
  for (const char* number : cases) {
    EXPECT_FALSE(classify_card_number(number, kToday).has_value()) << number;
  }
}

TEST(CitizenNumber, EighteenDigitsAreNeverASerial) {
  // A misread citizen number (bad check digit) must not pass as a card serial.
  EXPECT_FALSE(classify_card_number("500156195301011238", kToday).has_value());
  EXPECT_FALSE(classify_card_number("000000000000000000", kToday).has_value());
}

TEST(CardSerial, EightToTwentyDigits) {
  struct Case {
    std::string number;
    bool valid;
  };
  const Case cases[] = {
      {"1234567", false},
      {"12345678", true},
      {"123456789012", true},
      {"12345678901234567", true},  // 17
      {"1234567890123456789", true},
      {"12345678901234567890", true},
      {"123456789012345678901", false},
      {"1234567A", false},
      {"A12345678", false},
      {"", false},
      {"1234 5678", false},
      {"-12345678", false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.number);
    const auto info = classify_card_number(c.number, kToday);
    ASSERT_EQ(info.has_value(), c.valid);
    if (info) {
      EXPECT_EQ(info->kind, CardNumberKind::card_serial);
      EXPECT_EQ(info->region, 0);
      EXPECT_FALSE(info->birth.known());
    }
  }
}

TEST(CitizenNumber, CheckCharMatchesIso7064) {
  EXPECT_EQ(citizen_check_char("11010519491231002"), 'X');
  EXPECT_EQ(citizen_check_char("50015619530101123"), '9');
  EXPECT_EQ(citizen_check_char("44052418800101001"), '4');
  EXPECT_EQ(citizen_check_char("1101051949123100"), '\0');
  EXPECT_EQ(citizen_check_char("1101051949123100A"), '\0');
  // Every remainder maps to its character: vary the last digit through 0..9.
  std::string base = "50015619530101120";
  std::string seen;
  for (char d = '0'; d <= '9'; ++d) {
    base.back() = d;
    seen += citizen_check_char(base);
  }
  EXPECT_EQ(seen.size(), 10u);
  EXPECT_EQ(seen.find('\0'), std::string::npos);
}

TEST(Calendar, LeapYearsAndRealDates) {
  EXPECT_TRUE(is_leap_year(2000));
  EXPECT_TRUE(is_leap_year(2024));
  EXPECT_FALSE(is_leap_year(1900));
  EXPECT_FALSE(is_leap_year(2023));
  EXPECT_TRUE(is_real_date(2024, 2, 29));
  EXPECT_FALSE(is_real_date(2023, 2, 29));
  EXPECT_TRUE(is_real_date(2023, 4, 30));
  EXPECT_FALSE(is_real_date(2023, 4, 31));
  EXPECT_TRUE(is_real_date(2023, 12, 31));
  EXPECT_FALSE(is_real_date(2023, 0, 1));
  EXPECT_FALSE(is_real_date(2023, 1, 0));
}

TEST(Calendar, ChinaDateIsUtcPlusEight) {
  EXPECT_EQ(china_date_of(kNowMs), (BirthDate{2025, 11, 29}));
  constexpr std::int64_t kMidnightChina = 1'764'432'000'000;  // 2025-11-29 16:00 UTC
  EXPECT_EQ(china_date_of(kMidnightChina - 1), (BirthDate{2025, 11, 29}));
  EXPECT_EQ(china_date_of(kMidnightChina), (BirthDate{2025, 11, 30}));
  EXPECT_EQ(china_date_of(0), (BirthDate{1970, 1, 1}));
  EXPECT_EQ(china_date_of(-8 * 3'600'000 - 1), (BirthDate{1969, 12, 31}));
  EXPECT_EQ(china_date_of(1'709'164'800'000), (BirthDate{2024, 2, 29}));
}

// Found by the card_number fuzz target: adding the offset to a clock near the limits overflowed.
TEST(Calendar, ChinaDateOfAnAbsurdClockIsSomeDateNotUndefinedBehaviour) {
  const BirthDate far = china_date_of(std::numeric_limits<std::int64_t>::max());
  const BirthDate past = china_date_of(std::numeric_limits<std::int64_t>::min());
  EXPECT_GT(far.year, 100'000);
  EXPECT_LT(past.year, -100'000);
  EXPECT_TRUE(is_real_date(far.year, far.month, far.day));
  // A citizen number is never born after such a "today", nor before such a one.
  EXPECT_TRUE(classify_card_number("11010519491231002X", china_date_of(0)).has_value());
  EXPECT_TRUE(classify_card_number("11010519491231002X", far).has_value());
  EXPECT_FALSE(classify_card_number("11010519491231002X", past).has_value());
}

TEST(Province, Codes) {
  for (int code : {11, 15, 21, 23, 31, 37, 41, 46, 50, 54, 61, 65, 71, 81, 82})
    EXPECT_TRUE(is_province_code(code)) << code;
  for (int code : {0, 10, 16, 20, 24, 30, 38, 40, 47, 49, 55, 60, 66, 70, 72, 80, 83, 99})
    EXPECT_FALSE(is_province_code(code)) << code;
}

}  // namespace
}  // namespace yktgw
