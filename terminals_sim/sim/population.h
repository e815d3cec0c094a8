#pragma once
// The simulated card holders: a deterministic population of citizen id numbers with the card
// list status the gateway should hold for each, and the decision the gateway should give.

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/core/holder.h"
#include "gateway/core/reason.h"
#include "gateway/core/records.h"

namespace yktgw::sim {

// `unknown` cards are not on the gateway's card list at all.
enum class CardStatus : std::uint8_t { active, lost, frozen, cancelled, unknown };

std::string_view to_string(CardStatus s);
std::optional<CardStatus> card_status_from(std::string_view s);

struct Card {
  std::string card_no;  // 18-character citizen id number
  CardStatus status = CardStatus::active;
  // What the platform records for the holder (holder_attributes of the number).
  HolderAttributes attributes = 0;
  bool operator==(const Card&) const = default;
};

// The named groups of the simulated district, in the order of their attribute bits
// (kFirstGroupBit + index). The gateway's default cardlist.groups lists the same names in the
// same order; the platform simulator's feed names them in its header.
inline const std::vector<std::string>& holder_groups() {
  static const std::vector<std::string> groups = {"staff", "student", "site_worker", "resident"};
  return groups;
}
inline constexpr HolderAttributes kGroupStaff = 1u << (kFirstGroupBit + 0);
inline constexpr HolderAttributes kGroupStudent = 1u << (kFirstGroupBit + 1);
inline constexpr HolderAttributes kGroupSiteWorker = 1u << (kFirstGroupBit + 2);
inline constexpr HolderAttributes kGroupResident = 1u << (kFirstGroupBit + 3);

// Attributes derived from the number, so the simulator and the platform agree without sharing
// state: local resident for Wulong (500156) numbers; disabled for sequence % 25 == 0; staff for
// sequence % 20 == 1 among those born 2002 or earlier; students born 2003-2014; site workers
// born 1965-2005 with sequence % 12 == 2; community residents (group "resident") for Wulong
// numbers whose sequence is not a multiple of 5.
HolderAttributes holder_attributes(std::string_view card_no);

// First two digits of the number (50 Chongqing, 51 Sichuan, 52 Guizhou, 54 Tibet); 0 if none.
IssuerRegion issuer_region(std::string_view card_no);
// Birth date in the number; unknown (year 0) if the number has none.
yktgw::BirthDate holder_birth(std::string_view card_no);
// Completed years on the Shanghai date y-m-d; -1 when the birth date is unknown. A 29 February
// birthday counts from 1 March in common years.
int age_on(const yktgw::BirthDate& birth, int year, int month, int day);

using Population = std::vector<Card>;

// The same (seed, count) gives the same cards, in the same order, on every machine.
// Regions: 80% Wulong (500156), 12% other Chongqing districts, 4% Sichuan, 3% Guizhou, 1% Tibet
// (the visitors of the cross-province routes). Birth years by band: 6% 1931-45, 9% 1946-55,
// 15% 1956-65, 28% 1966-85, 25% 1986-2002, 13% 2003-14, 4% 2015-20. Statuses of Chongqing
// cards: 88% active, 4% lost, 3% frozen, 2% cancelled, 3% unknown (not on the list); of
// visitors' cards, which the district list mostly does not carry: 35% active, 3% lost,
// 2% frozen, 60% unknown. Card numbers are unique.
Population generate_population(std::uint64_t seed, std::size_t count);

struct Expectation {
  Decision decision = Decision::approve;
  Reason reason = Reason::ok;
  bool operator==(const Expectation&) const = default;
};

// What the gateway should answer for a card in this status, whatever the scenario's amount.
Expectation expected_outcome(CardStatus s);

// The card list import file for `yktgw cardlist import`: header `card_no,status`, then one line
// per card on the list (unknown cards are left out), LF line ends. Returns the lines written,
// header excluded.
std::size_t write_cardlist_csv(std::ostream& out, const Population& cards);

}  // namespace yktgw::sim
