#include "gateway/policy/service_catalog.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

namespace yktgw {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;
const fs::path kCatalog = fs::path(YKTGW_SOURCE_DIR) / "config" / "service-items.toml";

TEST(ServiceCatalog, TheAnnexHas47ItemsAndLoads) {
  auto c = load_service_catalog(kCatalog.string());
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->items().size(), 47u);
  for (int n = 1; n <= 47; ++n) {
    ASSERT_NE(c->find(n), nullptr) << n;
    EXPECT_EQ(c->find(n)->number, n);
  }
  EXPECT_EQ(c->find(0), nullptr);
  EXPECT_EQ(c->find(48), nullptr);
}

TEST(ServiceCatalog, ItemsTheScenariosUse) {
  auto c = load_service_catalog(kCatalog.string());
  ASSERT_TRUE(c) << c.error().message;
  struct Expect {
    int number;
    const char* name;
    const char* department;
  };
  for (const Expect& e :
       {Expect{5, "社会保障卡数字工地", "区人力社保局"},
        Expect{9, "社会保障卡校园学习管理", "区教委"}, Expect{11, "宾旅馆住宿", "区公安局"},
        Expect{16, "社区服务", "区民政局"}, Expect{29, "公交刷卡乘车", "区交通运输委"},
        Expect{30, "图书馆入馆、借阅", "区文化旅游委"}, Expect{31, "博物馆", "区文化旅游委"},
        Expect{32, "旅游景点", "区文化旅游委"}, Expect{40, "就医购药", "区医保局"},
        Expect{41, "残疾人身份识别", "区残联"}}) {
    const ServiceItem* item = c->find(e.number);
    ASSERT_NE(item, nullptr);
    EXPECT_EQ(item->name, e.name);
    EXPECT_EQ(item->department, e.department);
    EXPECT_EQ(item->category, ItemCategory::service);
  }
  const ServiceItem& bus = *c->find(29);
  EXPECT_EQ(bus.card_forms, (std::vector<CardForm>{CardForm::physical, CardForm::electronic}));
  EXPECT_EQ(bus.use_classes, (std::vector<UseClass>{UseClass::identity, UseClass::payment}));
  EXPECT_EQ(bus.depth, (std::array<DepthLevel, 4>{DepthLevel::level1, DepthLevel::level2,
                                                  DepthLevel::level2, DepthLevel::level3}));
  // Pilot and national items carry a note instead of levels.
  EXPECT_THAT(c->find(11)->depth_note, HasSubstr("试点"));
  EXPECT_EQ(c->find(11)->depth[0], DepthLevel::none);
  EXPECT_THAT(c->find(13)->depth_note, HasSubstr("国家垂管"));
  const ServiceItem& disabled = *c->find(41);
  EXPECT_EQ(disabled.depth, (std::array<DepthLevel, 4>{DepthLevel::none, DepthLevel::level1,
                                                       DepthLevel::level1, DepthLevel::level2}));
  EXPECT_THAT(disabled.depth_note, HasSubstr("市残联"));
  EXPECT_EQ(c->find(10)->card_forms, std::vector<CardForm>{CardForm::electronic});
  EXPECT_EQ(c->find(18)->card_forms, std::vector<CardForm>{CardForm::physical});
  for (int n : {45, 46, 47}) {
    EXPECT_EQ(c->find(n)->category, ItemCategory::support) << n;
    EXPECT_TRUE(c->find(n)->card_forms.empty()) << n;
  }
  int identity = 0, disbursement = 0, payment = 0;
  for (const ServiceItem& i : c->items()) {
    for (UseClass u : i.use_classes) {
      identity += u == UseClass::identity;
      disbursement += u == UseClass::disbursement;
      payment += u == UseClass::payment;
    }
  }
  EXPECT_EQ(identity, 28);
  EXPECT_EQ(disbursement, 17);
  EXPECT_EQ(payment, 11);
}

TEST(ServiceCatalog, DepthShares) {
  EXPECT_EQ(depth_share_percent(UseClass::identity, DepthLevel::level1), 50);
  EXPECT_EQ(depth_share_percent(UseClass::disbursement, DepthLevel::level3), 90);
  EXPECT_EQ(depth_share_percent(UseClass::payment, DepthLevel::level2), 0);
  EXPECT_EQ(to_zh(DepthLevel::level2), "二级");
  EXPECT_EQ(to_zh(UseClass::payment), "缴费支付");
}

constexpr const char* kOneItem = R"(
[[item]]
number = 1
category = "事项类"
name = "就业创业服务"
department = "区人力社保局"
card_forms = ["实体卡"]
use_classes = ["身份识别"]
depth_2025_start = "一级"
depth_2025_end = "二级"
depth_2026_end = "二级"
depth_2027_end = "三级"
)";

std::string error_of(const std::string& text) {
  auto c = parse_service_catalog(text, "items.toml");
  return c ? "<ok>" : c.error().message;
}

TEST(ServiceCatalogErrors, NameFileLineAndKey) {
  EXPECT_EQ(error_of(kOneItem), "<ok>");
  std::string t = kOneItem;
  EXPECT_THAT(error_of(t + "colour = \"red\"\n"),
              HasSubstr("items.toml:13:1: unknown key 'item[0].colour'"));
  t = kOneItem;
  t.replace(t.find("\"实体卡\""), std::string("\"实体卡\"").size(), "\"磁条卡\"");
  EXPECT_THAT(error_of(t), HasSubstr("items.toml:7:15: key 'item[0].card_forms' has invalid value "
                                     "'磁条卡': expected one of 实体卡, 电子卡"));
  t = kOneItem;
  t.replace(t.find("depth_2026_end = \"二级\""), std::string("depth_2026_end = \"二级\"").size(),
            "depth_2026_end = \"一级\"");
  EXPECT_THAT(error_of(t), HasSubstr("items.toml:11:18: key 'item[0].depth_2026_end' has invalid "
                                     "value '一级': lower than depth_2025_end (二级)"));
  t = kOneItem;
  t.replace(t.find("number = 1"), 10, "number = 2");
  EXPECT_THAT(error_of(t), HasSubstr("items.toml:3:10: key 'item[0].number' has invalid value '2': "
                                     "expected 1"));
  EXPECT_THAT(error_of(std::string(kOneItem) + kOneItem),
              HasSubstr("items.toml:15:10: key 'item[1].number' has invalid value '1'"));
  t = kOneItem;
  t.replace(t.find("use_classes = [\"身份识别\"]"),
            std::string("use_classes = [\"身份识别\"]").size(), "use_classes = []");
  EXPECT_THAT(error_of(t), HasSubstr("a service item (事项类) needs a use class"));
  EXPECT_THAT(error_of("[[item]]\nnumber = 1\n"),
              HasSubstr("missing required key 'item[0].category'"));
  EXPECT_THAT(error_of("item = 3\n"),
              HasSubstr("items.toml:1:8: key 'item' must be an array of tables"));
  EXPECT_THAT(error_of("[[item]\n"), HasSubstr("items.toml:1:"));
  EXPECT_THAT(error_of(""), HasSubstr("missing required key 'item'"));
}

TEST(ServiceCatalogErrors, SupportTasksHaveNoCardUse) {
  const std::string t = R"(
[[item]]
number = 1
category = "保障类"
name = "立法工作"
department = "区司法局"
card_forms = ["实体卡"]
)";
  EXPECT_THAT(error_of(t), HasSubstr("items.toml:2:1: item 'item[0]': a support task (保障类)"));
}

}  // namespace
}  // namespace yktgw
