#pragma once
// The district's catalogue of "one card" service items (the 47 items of the work plan's annex,
// config/service-items.toml). Scenario policies name the item each tap counts towards; the
// application-depth statistics read the targets per year.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/core/result.h"

namespace yktgw {

enum class ItemCategory : std::uint8_t { service, support };  // 事项类, 保障类
enum class CardForm : std::uint8_t { physical, electronic };  // 实体卡, 电子卡
enum class UseClass : std::uint8_t {
  identity,
  disbursement,
  payment
};  // 身份识别, 资金发放, 缴费支付
// 一级/二级/三级; none where the annex has a note or "\" instead of a level.
enum class DepthLevel : std::uint8_t { none, level1, level2, level3 };

std::string_view to_zh(ItemCategory c);
std::string_view to_zh(CardForm f);
std::string_view to_zh(UseClass u);
std::string_view to_zh(DepthLevel d);  // "" for none

// The annex's four target dates, in the order of ServiceItem::depth.
inline constexpr std::array<std::string_view, 4> kDepthYears = {"2025初", "2025底", "2026底",
                                                                "2027底"};
inline constexpr std::array<std::string_view, 4> kDepthKeys = {"depth_2025_start", "depth_2025_end",
                                                               "depth_2026_end", "depth_2027_end"};

// Share of scenarios or recipients a depth level stands for (annex 说明 五): 50/70/90 % for
// identity and disbursement. Payment levels are not shares (level 1: pay from the card's bank
// account; level 2: e-card contracted merchants); 0 for them and for none.
int depth_share_percent(UseClass use, DepthLevel level);

struct ServiceItem {
  int number = 0;
  ItemCategory category = ItemCategory::service;
  std::string name;
  std::string department;
  std::string partners;
  std::string content;
  std::vector<CardForm> card_forms;
  std::vector<UseClass> use_classes;
  std::array<DepthLevel, 4> depth{};
  std::string depth_note;

  bool operator==(const ServiceItem&) const = default;
};

class ServiceCatalog {
 public:
  ServiceCatalog() = default;
  explicit ServiceCatalog(std::vector<ServiceItem> items) : items_(std::move(items)) {}

  const std::vector<ServiceItem>& items() const { return items_; }
  // nullptr when there is no such item.
  const ServiceItem* find(int number) const;

 private:
  std::vector<ServiceItem> items_;  // by number, 1..N without gaps
};

// Checks every item: known keys only, numbers 1..N contiguous and unique, names and departments
// given, card forms and use classes from the annex's vocabulary, service items with at least one
// card form, use class and a target (a level per year or a note), support items with none, and
// levels that never go down from one year to the next. Errors name file:line:column.
Result<ServiceCatalog> parse_service_catalog(const std::string& text, const std::string& name);
Result<ServiceCatalog> load_service_catalog(const std::string& path);

}  // namespace yktgw
