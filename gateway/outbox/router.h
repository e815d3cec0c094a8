#pragma once
// Which platforms a record goes to. Decided by record kind (whether a card was presented at
// all) and the card's issuer region, from config; one record may go to several destinations.
// The same table is also written as an SQL condition over the txn table's columns, so the
// outbox filters in SQLite instead of reading every row per destination, and the pruner can
// tell which destinations must have acked a row before it may go.

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/core/holder.h"
#include "gateway/core/records.h"
#include "gateway/core/result.h"

namespace yktgw::outbox {

inline constexpr std::string_view kDistrict = "district";
inline constexpr std::string_view kCrossProvince = "crossprov";

struct RouteTable {
  // Cards (physical or QR) by issuer region.
  std::map<IssuerRegion, std::set<std::string>> by_region;
  // Cards whose region is not in `by_region`, including region 0 (not known).
  std::set<std::string> unknown_region;
  // Records without a card (credential type `other`: cash, ID card), which have no issuer.
  std::set<std::string> no_card;
  // Destinations that get every record whatever the rules above say.
  std::set<std::string> copy_all;
  bool operator==(const RouteTable&) const = default;
};

class Router {
 public:
  explicit Router(RouteTable table);

  // Sorted, without repeats; empty only when the table sends this kind of record nowhere.
  std::vector<std::string> route(const TxnRecord& record) const;
  std::vector<std::string> route(CredentialType type, IssuerRegion region) const;

  // An SQL expression over the columns `cred_type` and `issuer_region` of table txn that is
  // true exactly for the rows route() sends to `destination`. Built from integers and fixed
  // literals only, so it is safe to paste into a statement.
  std::string sql_condition(std::string_view destination) const;

  // Every destination the table names, sorted.
  std::vector<std::string> destinations() const;

  const RouteTable& table() const { return table_; }

 private:
  RouteTable table_;
};

// "51,52,54" → {51, 52, 54}. Blanks around items are allowed; an empty string is an empty list.
// Each item is a two-digit province-level code 11..82. Error code "bad_region_list".
Result<std::vector<IssuerRegion>> parse_region_list(std::string_view text);

}  // namespace yktgw::outbox
