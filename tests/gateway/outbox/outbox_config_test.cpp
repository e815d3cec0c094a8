// The forwarding keys of the configuration (upstream.*, https.*, store quota and retention):
// defaults, checks, and the conversion into the forwarding core's options.

#include "gateway/outbox/outbox_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace yktgw::outbox {
namespace {

using ::testing::HasSubstr;

constexpr const char* kMinimal =
    "[gateway]\nid = \"gw-1\"\nsite = \"xiangkou\"\ndata_dir = \"/srv/ykt\"\n"
    "[security]\nhmac_key_file = \"/etc/yktgw/hmac.key\"\n";

Result<Config> parse(const std::string& extra, const std::vector<std::string>& overrides = {}) {
  return parse_config(std::string(kMinimal) + extra, "test.toml", overrides, "/etc/yktgw");
}

std::string error_of(const Result<Config>& r) { return r ? "<ok>" : r.error().message; }

TEST(OutboxConfig, DefaultsAndPaths) {
  auto c = parse("");
  ASSERT_TRUE(c) << error_of(c);
  EXPECT_EQ(c->upstream.district_regions, "50");
  EXPECT_EQ(c->upstream.crossprov_regions, "51,52,54");
  EXPECT_EQ(c->https.url, "");
  EXPECT_EQ(c->store.disk_quota_mb, 0);
  EXPECT_EQ(c->store.retention_days, 30);
  EXPECT_EQ(records_db_path(*c), "/srv/ykt/records.db");
  EXPECT_EQ(outbox_db_path(*c), "/srv/ykt/outbox.db");

  const ForwarderOptions f = forwarder_options_from(*c);
  EXPECT_EQ(f.gateway_id, "gw-1");
  EXPECT_EQ(f.records_db, "/srv/ykt/records.db");
  EXPECT_EQ(f.limits.max_records, 500);
  EXPECT_EQ(f.limits.max_bytes, 262144);
  EXPECT_EQ(f.limits.linger.count(), 200);
  EXPECT_EQ(f.retry_min.count(), 500);
  EXPECT_EQ(f.retry_max.count(), 10000);

  const RetentionOptions r = retention_options_from(*c);
  EXPECT_EQ(r.retention_days, 30);
  EXPECT_EQ(r.wal_checkpoint_bytes, 64u << 20);
  EXPECT_EQ(disk_quota_options_from(*c).quota_bytes, 0u);
}

TEST(OutboxConfig, ValuesFromTheFile) {
  auto c = parse(
      "[store]\ndisk_quota_mb = 2048\nretention_days = 7\n"
      "[upstream]\ncrossprov_regions = \"51, 52\"\nunknown_region_destination = \"both\"\n"
      "copy_all_to_district = true\nbatch_linger_ms = 50\n"
      "[https]\nurl = \"https://10.51.0.8:8443/ykt\"\nca_file = \"certs/ca.pem\"\n"
      "client_cert_file = \"certs/client.pem\"\nclient_key_file = \"certs/client.key\"\n");
  ASSERT_TRUE(c) << error_of(c);
  EXPECT_EQ(c->https.ca_file, "/etc/yktgw/certs/ca.pem") << "paths resolve against the file";
  EXPECT_EQ(c->https.client_key_file, "/etc/yktgw/certs/client.key");
  EXPECT_EQ(disk_quota_options_from(*c).quota_bytes, 2048ull << 20);
  const auto table = route_table_from(c->upstream);
  ASSERT_TRUE(table);
  EXPECT_EQ(table->by_region.at(51), std::set<std::string>{"crossprov"});
  EXPECT_FALSE(table->by_region.contains(54));
  EXPECT_EQ(table->unknown_region, (std::set<std::string>{"crossprov", "district"}));
  EXPECT_EQ(table->copy_all, std::set<std::string>{"district"});
}

TEST(OutboxConfig, RefusesBadValues) {
  auto c = parse("[upstream]\ncrossprov_regions = \"51,5x\"\n");
  ASSERT_FALSE(c);
  EXPECT_THAT(c.error().message, HasSubstr("key 'upstream.crossprov_regions' has invalid value"));
  EXPECT_THAT(c.error().message, HasSubstr("two-digit region codes"));

  c = parse("[upstream]\nunknown_region_destination = \"nowhere\"\n");
  ASSERT_FALSE(c);
  EXPECT_THAT(c.error().message, HasSubstr("expected one of district, crossprov, both"));

  c = parse("[upstream]\nretry_min_ms = 5000\nretry_max_ms = 1000\n");
  ASSERT_FALSE(c);
  EXPECT_THAT(c.error().message, HasSubstr("'upstream.retry_max_ms'"));
  EXPECT_THAT(c.error().message, HasSubstr("expected at least upstream.retry_min_ms (5000)"));

  for (const char* url : {"http://10.51.0.8", "https://", "https://host:0", "https://h:1/x?y=1",
                          "https://u@h", "https://::1:8443"}) {
    c = parse("", {std::string("https.url=") + url, "https.ca_file=/ca.pem"});
    ASSERT_FALSE(c) << url;
    EXPECT_THAT(c.error().message, HasSubstr("https.url")) << url;
  }
  for (const char* url : {"https://10.51.0.8", "https://[::1]:8443/a/b", "https://x.example/"}) {
    EXPECT_TRUE(parse("", {std::string("https.url=") + url, "https.ca_file=/ca.pem"})) << url;
  }

  c = parse("[https]\nurl = \"https://10.51.0.8:8443\"\n");
  ASSERT_FALSE(c);
  EXPECT_THAT(c.error().message, HasSubstr("key 'https.url' is set but 'https.ca_file' is not"));

  c = parse("[https]\nclient_cert_file = \"c.pem\"\n");
  ASSERT_FALSE(c);
  EXPECT_THAT(c.error().message, HasSubstr("'https.client_cert_file' is set but "
                                           "'https.client_key_file' is not"));

  c = parse("[store]\nretention_days = 0\n");
  ASSERT_FALSE(c);
  EXPECT_THAT(c.error().message, HasSubstr("expected an integer in 1..3650"));
}

TEST(OutboxConfig, RouteTableFromAHandMadeConfigChecksTheLists) {
  UpstreamConfig u;
  u.district_regions = "fifty";
  EXPECT_EQ(route_table_from(u).error().code, "bad_region_list");
}

}  // namespace
}  // namespace yktgw::outbox
