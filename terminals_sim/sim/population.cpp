#include "terminals_sim/sim/population.h"

#include <array>
#include <ostream>
#include <unordered_set>

#include "terminals_sim/sim/citizen_id.h"
#include "terminals_sim/sim/random.h"

namespace yktgw::sim {
namespace {

// Weights in per mille. Wulong dominates because the box serves Wulong; the rest exercise the
// district route (other 50xxxx) and the cross-province routes (51 / 52 / 54).
constexpr std::string_view kWulong = "500156";
constexpr std::array<std::string_view, 24> kOtherChongqing{
    "500101", "500102", "500103", "500104", "500105", "500106", "500107", "500108",
    "500109", "500110", "500112", "500113", "500114", "500115", "500116", "500117",
    "500118", "500119", "500120", "500151", "500152", "500153", "500154", "500155"};
constexpr std::array<std::string_view, 6> kSichuan{"510104", "510107", "510302",
                                                   "510502", "511002", "511102"};
constexpr std::array<std::string_view, 5> kGuizhou{"520102", "520302", "520402", "522201",
                                                   "520602"};
constexpr std::array<std::string_view, 3> kTibet{"540102", "540402", "540502"};

template <std::size_t N>
std::string_view pick(std::mt19937_64& rng, const std::array<std::string_view, N>& codes) {
  return codes[uniform_below(rng, N)];
}

std::string_view pick_region(std::mt19937_64& rng) {
  const auto r = uniform_below(rng, 1000);
  if (r < 800) return kWulong;
  if (r < 920) return pick(rng, kOtherChongqing);
  if (r < 960) return pick(rng, kSichuan);
  if (r < 990) return pick(rng, kGuizhou);
  return pick(rng, kTibet);
}

struct YearBand {
  int first = 0;
  int last = 0;
  int per_mille = 0;  // cumulative
};
// A township's age pyramid: many elderly (the canteen's holders), working age, students.
constexpr std::array<YearBand, 7> kBirthYears{{{1931, 1945, 60},
                                               {1946, 1955, 150},
                                               {1956, 1965, 300},
                                               {1966, 1985, 580},
                                               {1986, 2002, 830},
                                               {2003, 2014, 960},
                                               {2015, 2020, 1000}}};

BirthDate pick_birth_date(std::mt19937_64& rng) {
  BirthDate d;
  const auto r = static_cast<int>(uniform_below(rng, 1000));
  const auto* band = &kBirthYears.back();
  for (const auto& b : kBirthYears) {
    if (r < b.per_mille) {
      band = &b;
      break;
    }
  }
  d.year = static_cast<int>(uniform_between(rng, band->first, band->last));
  d.month = static_cast<int>(uniform_between(rng, 1, 12));
  d.day = static_cast<int>(uniform_between(rng, 1, days_in_month(d.year, d.month)));
  return d;
}

bool is_visitor(std::string_view region) { return !region.starts_with("50"); }

CardStatus pick_status(std::mt19937_64& rng, std::string_view region) {
  const auto r = uniform_below(rng, 100);
  if (is_visitor(region)) {
    if (r < 35) return CardStatus::active;
    if (r < 38) return CardStatus::lost;
    if (r < 40) return CardStatus::frozen;
    return CardStatus::unknown;
  }
  if (r < 88) return CardStatus::active;
  if (r < 92) return CardStatus::lost;
  if (r < 95) return CardStatus::frozen;
  if (r < 97) return CardStatus::cancelled;
  return CardStatus::unknown;
}

int digits(std::string_view s, std::size_t from, std::size_t count) {
  if (from + count > s.size()) return -1;
  int v = 0;
  for (std::size_t i = from; i < from + count; ++i) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

}  // namespace

HolderAttributes holder_attributes(std::string_view card_no) {
  HolderAttributes a = 0;
  const bool wulong = card_no.starts_with(kWulong);
  const int year = digits(card_no, 6, 4);
  const int sequence = digits(card_no, 14, 3);  // the three-digit sequence before the check
  if (wulong) a |= kAttrLocalResident;
  if (sequence < 0 || year < 0) return a;
  if (sequence % 25 == 0) a |= kAttrDisabled;
  if (sequence % 20 == 1 && year <= 2002) a |= kGroupStaff;
  if (year >= 2003 && year <= 2014) a |= kGroupStudent;
  if (year >= 1965 && year <= 2005 && sequence % 12 == 2) a |= kGroupSiteWorker;
  if (wulong && sequence % 5 != 0) a |= kGroupResident;
  return a;
}

IssuerRegion issuer_region(std::string_view card_no) {
  const int r = digits(card_no, 0, 2);
  return r < 0 ? IssuerRegion{0} : static_cast<IssuerRegion>(r);
}

yktgw::BirthDate holder_birth(std::string_view card_no) {
  if (card_no.size() != 18) return {};
  const int y = digits(card_no, 6, 4);
  const int m = digits(card_no, 10, 2);
  const int d = digits(card_no, 12, 2);
  if (y < 1 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m)) return {};
  return yktgw::BirthDate{y, m, d};
}

int age_on(const yktgw::BirthDate& birth, int year, int month, int day) {
  if (birth.year == 0) return -1;
  int bm = birth.month;
  int bd = birth.day;
  // In a common year a 29 February birthday is reached on 1 March.
  if (bm == 2 && bd == 29 && !is_leap_year(year)) {
    bm = 3;
    bd = 1;
  }
  int age = year - birth.year;
  if (month < bm || (month == bm && day < bd)) --age;
  return age;
}

std::string_view to_string(CardStatus s) {
  switch (s) {
    case CardStatus::active:
      return "active";
    case CardStatus::lost:
      return "lost";
    case CardStatus::frozen:
      return "frozen";
    case CardStatus::cancelled:
      return "cancelled";
    case CardStatus::unknown:
      return "unknown";
  }
  return "unknown";
}

std::optional<CardStatus> card_status_from(std::string_view s) {
  for (auto st : {CardStatus::active, CardStatus::lost, CardStatus::frozen, CardStatus::cancelled,
                  CardStatus::unknown}) {
    if (to_string(st) == s) return st;
  }
  return std::nullopt;
}

Population generate_population(std::uint64_t seed, std::size_t count) {
  std::mt19937_64 rng(seed);
  Population cards;
  cards.reserve(count);
  std::unordered_set<std::string> seen;
  seen.reserve(count);
  while (cards.size() < count) {
    const auto region = pick_region(rng);
    const auto birth = pick_birth_date(rng);
    const auto sequence = static_cast<int>(uniform_between(rng, 1, 999));
    const auto status = pick_status(rng, region);
    std::string card_no = make_citizen_id(region, birth, sequence);
    // A repeated number would give the card list two statuses for one card; draw again.
    if (!seen.insert(card_no).second) continue;
    const HolderAttributes attributes = holder_attributes(card_no);
    cards.push_back(Card{std::move(card_no), status, attributes});
  }
  return cards;
}

Expectation expected_outcome(CardStatus s) {
  switch (s) {
    case CardStatus::active:
      return {Decision::approve, Reason::ok};
    case CardStatus::lost:
      return {Decision::decline, Reason::card_lost};
    case CardStatus::frozen:
      return {Decision::decline, Reason::card_frozen};
    case CardStatus::cancelled:
      return {Decision::decline, Reason::card_cancelled};
    case CardStatus::unknown:
      return {Decision::decline, Reason::unknown_card};
  }
  return {Decision::decline, Reason::unknown_card};
}

std::size_t write_cardlist_csv(std::ostream& out, const Population& cards) {
  out << "card_no,status\n";
  std::size_t lines = 0;
  for (const auto& card : cards) {
    if (card.status == CardStatus::unknown) continue;
    out << card.card_no << ',' << to_string(card.status) << '\n';
    ++lines;
  }
  return lines;
}

}  // namespace yktgw::sim
