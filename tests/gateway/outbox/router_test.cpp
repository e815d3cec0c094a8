#include "gateway/outbox/router.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "gateway/outbox/outbox_config.h"
#include "gateway/store/sqlite_util.h"

namespace yktgw::outbox {
namespace {

using V = std::vector<std::string>;

RouteTable standard() {
  UpstreamConfig u;  // the defaults: 50 → district; 51, 52, 54 → crossprov; rest → district
  auto t = route_table_from(u);
  EXPECT_TRUE(t);
  return *t;
}

TEST(Router, DefaultTableFollowsTheDesign) {
  const Router router(standard());
  EXPECT_EQ(router.route(CredentialType::card, 50), V{"district"});
  EXPECT_EQ(router.route(CredentialType::card, 51), V{"crossprov"});
  EXPECT_EQ(router.route(CredentialType::ecard_qr, 52), V{"crossprov"});
  EXPECT_EQ(router.route(CredentialType::ykm_qr, 54), V{"crossprov"});
  EXPECT_EQ(router.route(CredentialType::card, 11), V{"district"}) << "unknown region";
  EXPECT_EQ(router.route(CredentialType::card, 0), V{"district"}) << "region not known";
  EXPECT_EQ(router.route(CredentialType::other, 0), V{"district"}) << "no card";
  EXPECT_EQ(router.destinations(), (V{"crossprov", "district"}));
}

TEST(Router, SeveralDestinationsAndChoices) {
  UpstreamConfig u;
  u.copy_all_to_district = true;
  u.unknown_region_destination = "both";
  u.no_card_destination = "crossprov";
  u.district_regions = "50,51";  // 51 in both lists: both platforms
  const Router router(*route_table_from(u));
  EXPECT_EQ(router.route(CredentialType::card, 51), (V{"crossprov", "district"}));
  EXPECT_EQ(router.route(CredentialType::card, 52), (V{"crossprov", "district"}));
  EXPECT_EQ(router.route(CredentialType::card, 33), (V{"crossprov", "district"}));
  EXPECT_EQ(router.route(CredentialType::other, 0), (V{"crossprov", "district"}));
  EXPECT_EQ(router.route(CredentialType::card, 50), V{"district"});
  EXPECT_EQ(router.sql_condition("district"), "1");
}

TEST(Router, EmptyListsAndNowhere) {
  RouteTable t;
  t.by_region[50] = {"district"};
  const Router router(t);
  EXPECT_TRUE(router.route(CredentialType::card, 51).empty());
  EXPECT_EQ(router.sql_condition("crossprov"), "0");
  EXPECT_EQ(router.sql_condition("district"), "((cred_type <> 'other' AND issuer_region IN (50)))");
  TxnRecord r;
  r.card.region = 50;
  EXPECT_EQ(router.route(r), V{"district"});
}

// The SQL form must agree with route() for every kind and region, or the outbox would send a
// record the router does not mean to (or the pruner delete one a destination still needs).
TEST(Router, SqlConditionAgreesWithRoute) {
  auto db = sqlite::Database::open(":memory:", true);
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->exec("CREATE TABLE txn (cred_type TEXT, issuer_region INTEGER)"));
  auto ins = db->prepare("INSERT INTO txn VALUES (?1, ?2)");
  ASSERT_TRUE(ins);
  const CredentialType types[] = {CredentialType::card, CredentialType::ecard_qr,
                                  CredentialType::ykm_qr, CredentialType::other};
  for (auto t : types) {
    for (int region : {0, 11, 50, 51, 52, 54, 82}) {
      ins->reset();
      ins->bind(1, to_string(t));
      ins->bind(2, static_cast<std::int64_t>(region));
      ASSERT_EQ(sqlite3_step(ins->get()), SQLITE_DONE);
    }
  }
  std::vector<UpstreamConfig> configs(5);
  configs[1].copy_all_to_district = true;
  configs[2].unknown_region_destination = "crossprov";
  configs[2].no_card_destination = "both";
  configs[3].district_regions = "";
  configs[3].crossprov_regions = "";
  configs[4].district_regions = "50,51";
  configs[4].unknown_region_destination = "both";
  for (const auto& u : configs) {
    const Router router(*route_table_from(u));
    for (const std::string dest : {"district", "crossprov"}) {
      auto st = db->prepare("SELECT cred_type, issuer_region, " + router.sql_condition(dest) +
                            " FROM txn");
      ASSERT_TRUE(st) << router.sql_condition(dest);
      while (sqlite3_step(st->get()) == SQLITE_ROW) {
        const auto type = *credential_type_from(st->column_text(0));
        const auto region = static_cast<IssuerRegion>(sqlite3_column_int(st->get(), 1));
        const bool sql = sqlite3_column_int(st->get(), 2) != 0;
        const auto routes = router.route(type, region);
        const bool cpp = std::find(routes.begin(), routes.end(), dest) != routes.end();
        EXPECT_EQ(sql, cpp) << dest << " " << to_string(type) << " " << region;
      }
    }
  }
}

TEST(RegionList, Parses) {
  EXPECT_EQ(*parse_region_list("51,52,54"), (std::vector<IssuerRegion>{51, 52, 54}));
  EXPECT_EQ(*parse_region_list(" 51 , 52,51 "), (std::vector<IssuerRegion>{51, 52}));
  EXPECT_TRUE(parse_region_list("")->empty());
  EXPECT_TRUE(parse_region_list("  ")->empty());
  for (const char* bad : {"5", "510", "5l", "51,", ",51", "10", "83", "51;52", "-5"}) {
    auto r = parse_region_list(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, "bad_region_list");
  }
}

}  // namespace
}  // namespace yktgw::outbox
