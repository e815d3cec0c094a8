#pragma once
// Application depth (应用深度): the share of approved transactions made with the social
// security card, physical or electronic, per service item and per scenario, for one
// Asia/Shanghai calendar day and its month, against the plan's tiers (一级/二级/三级 =
// 50/70/90 %). 渝快码 and other means are counted and shown, but are not the card.
//
// Pure arithmetic over the counts the record store aggregates (StatusSource::depth_counts).

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gateway/status/status_source.h"

namespace yktgw::status {

// Asia/Shanghai has kept UTC+8 without daylight saving since 1991.
inline constexpr std::int64_t kShanghaiOffsetMs = 8LL * 3600 * 1000;
inline constexpr std::int64_t kDayMs = 86'400'000;

struct CivilDate {
  int year = 1970;
  int month = 1;  // 1..12
  int day = 1;    // 1..31
  bool operator==(const CivilDate&) const = default;
};

std::int64_t shanghai_day(UtcMillis ms);  // days since 1970-01-01, Shanghai calendar
CivilDate civil_from_days(std::int64_t days);
std::int64_t days_from_civil(const CivilDate& d);
std::string format_date(const CivilDate& d);                 // 2026-11-29
std::string format_month(const CivilDate& d);                // 2026-11
std::optional<CivilDate> parse_date(std::string_view text);  // YYYY-MM-DD, a real date
// UTC ms at 00:00 Shanghai time of the first day of the month holding `day`.
UtcMillis shanghai_month_start_ms(std::int64_t day);

struct KindCounts {
  std::uint64_t card = 0;
  std::uint64_t ecard_qr = 0;
  std::uint64_t ykm_qr = 0;
  std::uint64_t other = 0;
  std::uint64_t total() const { return card + ecard_qr + ykm_qr + other; }
  void add(CredentialType t, std::uint64_t n);
  // (card + ecard_qr) / total in percent; nullopt without transactions.
  std::optional<double> card_share_percent() const;
  bool operator==(const KindCounts&) const = default;
};

// 3 at 90 % and more, 2 at 70 %, 1 at 50 %, else 0.
int level_reached(double share_percent);
// Which of the plan's four target dates applies on `day` (index into DepthTarget::level): the
// one due at the end of that year (2025 → 2025底, 2026 → 2026底, 2027 and later → 2027底;
// before 2025 → 2025初).
int target_index_for(std::int64_t day);
// "2025初", "2025底", "2026底", "2027底".
std::string target_label(int index);

struct ItemDepth {
  DepthTarget target;
  KindCounts day;
  KindCounts month;
};

struct ScenarioDepth {
  std::string scenario;
  int item = 0;
  KindCounts day;
  KindCounts month;
};

struct DayTotals {
  std::int64_t day = 0;
  KindCounts counts;
};

struct DepthReport {
  std::int64_t day = 0;
  int target_index = 0;
  std::vector<ItemDepth> items;             // every catalogue item, by number
  KindCounts unmapped_day, unmapped_month;  // item 0: terminal without a catalogue item
  std::vector<ScenarioDepth> scenarios;     // assigned scenarios and any seen in the counts
  std::vector<DayTotals> days;              // each day of the month up to `day`, all items
  KindCounts all_day, all_month;
};

// `counts` should cover at least the month of `day`; later days are ignored.
DepthReport compute_depth(const std::vector<DepthCount>& counts,
                          const std::vector<DepthTarget>& targets,
                          const std::map<std::string, int>& scenario_items, std::int64_t day);

}  // namespace yktgw::status
