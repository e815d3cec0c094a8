#include "gateway/status/depth.h"

#include <cstdio>

namespace yktgw::status {

std::int64_t shanghai_day(UtcMillis ms) {
  const std::int64_t local = ms + kShanghaiOffsetMs;
  return local >= 0 ? local / kDayMs : -((-local + kDayMs - 1) / kDayMs);
}

// Howard Hinnant's civil calendar algorithms (proleptic Gregorian).
CivilDate civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return CivilDate{static_cast<int>(y + (m <= 2)), static_cast<int>(m), static_cast<int>(d)};
}

std::int64_t days_from_civil(const CivilDate& c) {
  const std::int64_t y = c.year - (c.month <= 2);
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned m = static_cast<unsigned>(c.month);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + static_cast<unsigned>(c.day) - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

std::string format_date(const CivilDate& d) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", d.year, d.month, d.day);
  return buf;
}

std::string format_month(const CivilDate& d) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d", d.year, d.month);
  return buf;
}

std::optional<CivilDate> parse_date(std::string_view t) {
  if (t.size() != 10 || t[4] != '-' || t[7] != '-') return std::nullopt;
  for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9})
    if (t[i] < '0' || t[i] > '9') return std::nullopt;
  auto num = [&](std::size_t at, std::size_t n) {
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) v = v * 10 + (t[i] - '0');
    return v;
  };
  const CivilDate d{num(0, 4), num(5, 2), num(8, 2)};
  if (d.month < 1 || d.month > 12 || d.day < 1) return std::nullopt;
  if (civil_from_days(days_from_civil(d)) != d) return std::nullopt;  // e.g. 02-30
  return d;
}

UtcMillis shanghai_month_start_ms(std::int64_t day) {
  CivilDate c = civil_from_days(day);
  c.day = 1;
  return days_from_civil(c) * kDayMs - kShanghaiOffsetMs;
}

void KindCounts::add(CredentialType t, std::uint64_t n) {
  switch (t) {
    case CredentialType::card:
      card += n;
      break;
    case CredentialType::ecard_qr:
      ecard_qr += n;
      break;
    case CredentialType::ykm_qr:
      ykm_qr += n;
      break;
    case CredentialType::other:
      other += n;
      break;
  }
}

std::optional<double> KindCounts::card_share_percent() const {
  const std::uint64_t n = total();
  if (n == 0) return std::nullopt;
  return 100.0 * static_cast<double>(card + ecard_qr) / static_cast<double>(n);
}

int level_reached(double share) {
  if (share >= 90.0) return 3;
  if (share >= 70.0) return 2;
  if (share >= 50.0) return 1;
  return 0;
}

int target_index_for(std::int64_t day) {
  const int year = civil_from_days(day).year;
  if (year < 2025) return 0;
  if (year == 2025) return 1;
  if (year == 2026) return 2;
  return 3;
}

std::string target_label(int index) {
  static const char* const kLabels[] = {"2025初", "2025底", "2026底", "2027底"};
  return index >= 0 && index < 4 ? kLabels[index] : "";
}

DepthReport compute_depth(const std::vector<DepthCount>& counts,
                          const std::vector<DepthTarget>& targets,
                          const std::map<std::string, int>& scenario_items, std::int64_t day) {
  DepthReport r;
  r.day = day;
  r.target_index = target_index_for(day);
  CivilDate first = civil_from_days(day);
  first.day = 1;
  const std::int64_t month_start = days_from_civil(first);

  std::map<int, std::size_t> item_index;
  for (const auto& t : targets) {
    item_index[t.item] = r.items.size();
    r.items.push_back(ItemDepth{t, {}, {}});
  }
  std::map<std::string, ScenarioDepth> scenarios;
  for (const auto& [name, item] : scenario_items)
    scenarios[name] = ScenarioDepth{name, item, {}, {}};
  for (std::int64_t d = month_start; d <= day; ++d) r.days.push_back(DayTotals{d, {}});

  for (const auto& c : counts) {
    if (c.day < month_start || c.day > day) continue;
    const bool today = c.day == day;
    KindCounts* item_day = &r.unmapped_day;
    KindCounts* item_month = &r.unmapped_month;
    if (auto it = item_index.find(c.service_item); it != item_index.end()) {
      item_day = &r.items[it->second].day;
      item_month = &r.items[it->second].month;
    }
    item_month->add(c.type, c.count);
    r.all_month.add(c.type, c.count);
    r.days[static_cast<std::size_t>(c.day - month_start)].counts.add(c.type, c.count);
    auto& sc = scenarios[c.scenario];
    if (sc.scenario.empty()) sc = ScenarioDepth{c.scenario, c.service_item, {}, {}};
    sc.month.add(c.type, c.count);
    if (today) {
      item_day->add(c.type, c.count);
      r.all_day.add(c.type, c.count);
      sc.day.add(c.type, c.count);
    }
  }
  for (auto& [_, s] : scenarios) r.scenarios.push_back(std::move(s));
  return r;
}

}  // namespace yktgw::status
