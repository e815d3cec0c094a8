#include "gateway/policy/service_catalog.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "gateway/core/errno_message.h"
#include "gateway/policy/toml_fields.h"

namespace yktgw {
namespace {

using policy_file::FieldSpec;
using policy_file::FieldType;

const std::vector<FieldSpec>& item_spec() {
  auto text = [](std::string name, std::string def, std::vector<std::string> choices,
                 std::string description) {
    FieldSpec s;
    s.name = std::move(name);
    s.type = FieldType::string;
    s.default_text = std::move(def);
    s.required = s.default_text.empty();
    s.choices = std::move(choices);
    s.description = std::move(description);
    return s;
  };
  auto list = [](std::string name, std::vector<std::string> choices, std::string description) {
    FieldSpec s;
    s.name = std::move(name);
    s.type = FieldType::string_list;
    s.default_text = "[]";
    s.choices = std::move(choices);
    s.description = std::move(description);
    return s;
  };
  static const std::vector<FieldSpec> spec = [&] {
    const std::vector<std::string> levels = {"", "一级", "二级", "三级"};
    FieldSpec number;
    number.name = "number";
    number.type = FieldType::integer;
    number.required = true;
    number.min_value = 1;
    number.max_value = 999;
    number.description = "Item number in the annex (序号)";
    std::vector<FieldSpec> v = {
        number,
        text("category", "", {"事项类", "保障类"}, "Service item or support task (类别)"),
        text("name", "", {}, "Service item (服务事项)"),
        text("department", "", {}, "Responsible department (责任单位)"),
        text("partners", "\"\"", {}, "Cooperating units (配合单位)"),
        text("content", "\"\"", {}, "What the item covers (具体内容)"),
        list("card_forms", {"实体卡", "电子卡"}, "Card forms (用卡方式)"),
        list("use_classes", {"身份识别", "资金发放", "缴费支付"}, "Use classes (应用类别)"),
        text("depth_2025_start", "\"\"", levels, "Target depth early 2025 (2025年初)"),
        text("depth_2025_end", "\"\"", levels, "Target depth end 2025 (2025年底)"),
        text("depth_2026_end", "\"\"", levels, "Target depth end 2026 (2026年底)"),
        text("depth_2027_end", "\"\"", levels, "Target depth end 2027 (2027年底)"),
        text("depth_note", "\"\"", {}, "Note written in the target columns"),
    };
    return v;
  }();
  return spec;
}

const std::vector<FieldSpec>& top_spec() {
  static const std::vector<FieldSpec> spec = [] {
    FieldSpec item;
    item.name = "item";
    item.type = FieldType::table_list;
    item.required = true;
    item.items = &item_spec();
    item.description = "The catalogue's items";
    return std::vector<FieldSpec>{item};
  }();
  return spec;
}

DepthLevel depth_from(std::string_view s) {
  if (s == "一级") return DepthLevel::level1;
  if (s == "二级") return DepthLevel::level2;
  if (s == "三级") return DepthLevel::level3;
  return DepthLevel::none;
}

}  // namespace

std::string_view to_zh(ItemCategory c) { return c == ItemCategory::service ? "事项类" : "保障类"; }
std::string_view to_zh(CardForm f) { return f == CardForm::physical ? "实体卡" : "电子卡"; }
std::string_view to_zh(UseClass u) {
  switch (u) {
    case UseClass::identity:
      return "身份识别";
    case UseClass::disbursement:
      return "资金发放";
    case UseClass::payment:
      return "缴费支付";
  }
  return "";
}
std::string_view to_zh(DepthLevel d) {
  switch (d) {
    case DepthLevel::none:
      return "";
    case DepthLevel::level1:
      return "一级";
    case DepthLevel::level2:
      return "二级";
    case DepthLevel::level3:
      return "三级";
  }
  return "";
}

int depth_share_percent(UseClass use, DepthLevel level) {
  if (use == UseClass::payment) return 0;
  switch (level) {
    case DepthLevel::none:
      return 0;
    case DepthLevel::level1:
      return 50;
    case DepthLevel::level2:
      return 70;
    case DepthLevel::level3:
      return 90;
  }
  return 0;
}

const ServiceItem* ServiceCatalog::find(int number) const {
  if (number < 1 || static_cast<std::size_t>(number) > items_.size()) return nullptr;
  const ServiceItem& item = items_[static_cast<std::size_t>(number) - 1];
  return item.number == number ? &item : nullptr;
}

Result<ServiceCatalog> parse_service_catalog(const std::string& text, const std::string& name) {
  policy_file::Reader reader(name);
  auto doc = reader.parse(text);
  if (!doc) return doc.error();
  const std::vector<FieldSpec>* sets[] = {&top_spec()};
  const policy_file::Fields top = reader.read(*doc, "", {1, 1}, sets);
  // Types and vocabularies first: a refused value must not reappear as a follow-on error below.
  if (auto r = reader.first_problem(); !r) return r.error();
  std::vector<ServiceItem> items;
  for (const policy_file::Fields& f : top.tables("item")) {
    ServiceItem item;
    item.number = static_cast<int>(f.integer("number"));
    item.category = f.text("category") == "保障类" ? ItemCategory::support : ItemCategory::service;
    item.name = f.text("name");
    item.department = f.text("department");
    item.partners = f.text("partners");
    item.content = f.text("content");
    for (const std::string& s : f.strings("card_forms"))
      item.card_forms.push_back(s == "实体卡" ? CardForm::physical : CardForm::electronic);
    for (const std::string& s : f.strings("use_classes")) {
      item.use_classes.push_back(s == "身份识别"   ? UseClass::identity
                                 : s == "资金发放" ? UseClass::disbursement
                                                   : UseClass::payment);
    }
    for (std::size_t y = 0; y < kDepthKeys.size(); ++y)
      item.depth[y] = depth_from(f.text(kDepthKeys[y]));
    item.depth_note = f.text("depth_note");

    if (item.name.empty()) reader.invalid(f, "name", "", "expected a non-empty name");
    if (item.department.empty())
      reader.invalid(f, "department", "", "expected a non-empty department");
    const bool any_depth = std::any_of(item.depth.begin(), item.depth.end(),
                                       [](DepthLevel d) { return d != DepthLevel::none; });
    if (item.category == ItemCategory::service) {
      if (item.card_forms.empty())
        reader.invalid(f, "card_forms", "[]", "a service item (事项类) needs a card form");
      if (item.use_classes.empty())
        reader.invalid(f, "use_classes", "[]", "a service item (事项类) needs a use class");
      if (!any_depth && item.depth_note.empty()) {
        reader.invalid(f, "depth_note", "",
                       "a service item needs a target level for some year or a note");
      }
    } else if (!item.card_forms.empty() || !item.use_classes.empty() || any_depth) {
      reader.fail(f.pos, "invalid_value",
                  "item '" + f.path +
                      "': a support task (保障类) has no card forms, use classes "
                      "or target levels");
    }
    // A target that falls from one year to the next is a transcription slip, not a plan.
    for (std::size_t y = 1; y < item.depth.size(); ++y) {
      if (item.depth[y] != DepthLevel::none && item.depth[y - 1] != DepthLevel::none &&
          item.depth[y] < item.depth[y - 1]) {
        reader.invalid(f, kDepthKeys[y], std::string(to_zh(item.depth[y])),
                       "lower than " + std::string(kDepthKeys[y - 1]) + " (" +
                           std::string(to_zh(item.depth[y - 1])) + ")");
      }
    }
    const int expected = static_cast<int>(items.size()) + 1;
    if (item.number != expected) {
      reader.invalid(f, "number", std::to_string(item.number),
                     "expected " + std::to_string(expected) +
                         " (items are numbered 1..N in order, without gaps or repeats)");
    }
    items.push_back(std::move(item));
  }
  if (auto r = reader.first_problem(); !r) return r.error();
  if (items.empty()) return make_error("invalid_value", name + ": no [[item]] in the catalogue");
  return ServiceCatalog(std::move(items));
}

Result<ServiceCatalog> load_service_catalog(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("io", "cannot read '" + path + "': " + errno_message());
  std::ostringstream buf;
  buf << in.rdbuf();
  return parse_service_catalog(buf.str(), path);
}

}  // namespace yktgw
