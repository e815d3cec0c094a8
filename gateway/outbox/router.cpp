#include "gateway/outbox/router.h"

#include <algorithm>
#include <charconv>

namespace yktgw::outbox {
namespace {

bool has(const std::set<std::string>& s, std::string_view d) {
  return s.find(std::string(d)) != s.end();
}

std::string in_list(const std::vector<IssuerRegion>& regions) {
  std::string out = "(";
  for (std::size_t i = 0; i < regions.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(regions[i]);
  }
  return out + ")";
}

}  // namespace

Router::Router(RouteTable table) : table_(std::move(table)) {}

std::vector<std::string> Router::route(const TxnRecord& record) const {
  return route(record.card.type, record.card.region);
}

std::vector<std::string> Router::route(CredentialType type, IssuerRegion region) const {
  std::set<std::string> out = table_.copy_all;
  if (type == CredentialType::other) {
    out.insert(table_.no_card.begin(), table_.no_card.end());
  } else if (const auto it = table_.by_region.find(region); it != table_.by_region.end()) {
    out.insert(it->second.begin(), it->second.end());
  } else {
    out.insert(table_.unknown_region.begin(), table_.unknown_region.end());
  }
  return {out.begin(), out.end()};
}

std::string Router::sql_condition(std::string_view destination) const {
  if (has(table_.copy_all, destination)) return "1";
  std::vector<std::string> parts;
  if (has(table_.no_card, destination)) parts.emplace_back("cred_type = 'other'");
  std::vector<IssuerRegion> mine;
  std::vector<IssuerRegion> listed;
  for (const auto& [region, dests] : table_.by_region) {
    listed.push_back(region);
    if (has(dests, destination)) mine.push_back(region);
  }
  if (!mine.empty()) {
    parts.push_back("(cred_type <> 'other' AND issuer_region IN " + in_list(mine) + ")");
  }
  if (has(table_.unknown_region, destination)) {
    parts.push_back(listed.empty() ? std::string("cred_type <> 'other'")
                                   : "(cred_type <> 'other' AND issuer_region NOT IN " +
                                         in_list(listed) + ")");
  }
  if (parts.empty()) return "0";
  std::string out = "(";
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += " OR ";
    out += parts[i];
  }
  return out + ")";
}

std::vector<std::string> Router::destinations() const {
  std::set<std::string> all = table_.copy_all;
  all.insert(table_.unknown_region.begin(), table_.unknown_region.end());
  all.insert(table_.no_card.begin(), table_.no_card.end());
  for (const auto& [region, dests] : table_.by_region) all.insert(dests.begin(), dests.end());
  return {all.begin(), all.end()};
}

Result<std::vector<IssuerRegion>> parse_region_list(std::string_view text) {
  std::vector<IssuerRegion> out;
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  };
  if (trim(text).empty()) return out;
  while (true) {
    const auto comma = text.find(',');
    const std::string_view item = trim(text.substr(0, comma));
    int value = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (item.size() != 2 || ec != std::errc() || end != item.data() + item.size() || value < 11 ||
        value > 82) {
      return make_error(
          "bad_region_list",
          "expected comma-separated two-digit region codes 11..82, e.g. \"51,52,54\"; "
          "got '" +
              std::string(item) + "'");
    }
    const auto region = static_cast<IssuerRegion>(value);
    if (std::find(out.begin(), out.end(), region) == out.end()) out.push_back(region);
    if (comma == std::string_view::npos) break;
    text = text.substr(comma + 1);
  }
  return out;
}

}  // namespace yktgw::outbox
