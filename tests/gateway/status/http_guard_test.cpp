#include "gateway/status/http_guard.h"

#include <gtest/gtest.h>

namespace yktgw::status {
namespace {

TEST(ParseListen, HostAndPort) {
  auto l = parse_listen("127.0.0.1:8080");
  ASSERT_TRUE(l);
  EXPECT_EQ(*l, (ListenAddress{"127.0.0.1", 8080}));
  EXPECT_EQ(*parse_listen("0.0.0.0:1"), (ListenAddress{"0.0.0.0", 1}));
}

TEST(ParseListen, RefusesWhatIsNotHostPort) {
  for (const char* bad : {"", "8080", ":8080", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
                          "127.0.0.1:80a", "127.0.0.1:123456"}) {
    SCOPED_TRACE(bad);
    auto l = parse_listen(bad);
    ASSERT_FALSE(l);
    EXPECT_EQ(l.error().code, "config");
  }
}

TEST(Loopback, KnowsLoopbackAndWildcard) {
  EXPECT_TRUE(is_loopback("127.0.0.1"));
  EXPECT_TRUE(is_loopback("127.1.2.3"));
  EXPECT_TRUE(is_loopback("localhost"));
  EXPECT_TRUE(is_loopback("LocalHost"));
  EXPECT_TRUE(is_loopback("::1"));
  EXPECT_FALSE(is_loopback("0.0.0.0"));
  EXPECT_FALSE(is_loopback("10.0.0.1"));
  EXPECT_FALSE(is_loopback("128.0.0.1"));
  EXPECT_FALSE(is_loopback("localhost.example.com"));
  EXPECT_TRUE(is_wildcard("0.0.0.0"));
  EXPECT_FALSE(is_wildcard("127.0.0.1"));
}

TEST(CheckBind, NonLoopbackNeedsAToken) {
  EXPECT_TRUE(check_bind({"127.0.0.1", 8080}, ""));
  EXPECT_TRUE(check_bind({"localhost", 8080}, ""));
  EXPECT_TRUE(check_bind({"0.0.0.0", 8080}, "secret"));
  auto r = check_bind({"0.0.0.0", 8080}, "");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "config");
  EXPECT_NE(r.error().message.find("status.token"), std::string::npos) << r.error().message;
  EXPECT_FALSE(check_bind({"192.168.1.20", 8080}, ""));
}

TEST(HostHeader, LoopbackBindAcceptsTheLoopbackNamesWithTheRightPort) {
  const ListenAddress l{"127.0.0.1", 8080};
  EXPECT_TRUE(host_allowed("127.0.0.1:8080", l));
  EXPECT_TRUE(host_allowed("localhost:8080", l));
  EXPECT_TRUE(host_allowed("LOCALHOST:8080", l));
  EXPECT_TRUE(host_allowed("[::1]:8080", l));
  EXPECT_FALSE(host_allowed("127.0.0.1:8081", l));
  EXPECT_FALSE(host_allowed("127.0.0.1", l)) << "port 80 implied, server is on 8080";
  EXPECT_FALSE(host_allowed("attacker.example:8080", l));
  EXPECT_FALSE(host_allowed("", l));
  EXPECT_FALSE(host_allowed("localhost:", l));
  EXPECT_FALSE(host_allowed("localhost:80x", l));
  EXPECT_FALSE(host_allowed("[::1", l));
  EXPECT_FALSE(host_allowed("127.0.0.1:8080:8080", l));
}

TEST(HostHeader, DefaultPortMayBeLeftOut) {
  const ListenAddress l{"127.0.0.1", 80};
  EXPECT_TRUE(host_allowed("localhost", l));
  EXPECT_TRUE(host_allowed("localhost:80", l));
}

TEST(HostHeader, SpecificAddressAcceptsOnlyItself) {
  const ListenAddress l{"10.50.0.8", 9000};
  EXPECT_TRUE(host_allowed("10.50.0.8:9000", l));
  EXPECT_FALSE(host_allowed("localhost:9000", l));
  EXPECT_FALSE(host_allowed("evil.example:9000", l));
}

TEST(HostHeader, WildcardBindAcceptsAnyNameOnItsPort) {
  const ListenAddress l{"0.0.0.0", 9000};
  EXPECT_TRUE(host_allowed("gw-xiangkou.lan:9000", l));
  EXPECT_FALSE(host_allowed("gw-xiangkou.lan:9001", l));
}

TEST(Bearer, NoTokenConfiguredLetsEverythingThrough) {
  EXPECT_TRUE(bearer_ok("", ""));
  EXPECT_TRUE(bearer_ok("Bearer whatever", ""));
}

TEST(Bearer, RequiresTheExactToken) {
  EXPECT_TRUE(bearer_ok("Bearer s3cret", "s3cret"));
  EXPECT_TRUE(bearer_ok("bearer s3cret", "s3cret"));
  EXPECT_TRUE(bearer_ok("BEARER  s3cret", "s3cret"));
  EXPECT_FALSE(bearer_ok("", "s3cret"));
  EXPECT_FALSE(bearer_ok("Bearer", "s3cret"));
  EXPECT_FALSE(bearer_ok("Bearer s3cre", "s3cret"));
  EXPECT_FALSE(bearer_ok("Bearer s3cret2", "s3cret"));
  EXPECT_FALSE(bearer_ok("Bearer S3cret", "s3cret"));
  EXPECT_FALSE(bearer_ok("Basic s3cret", "s3cret"));
  EXPECT_FALSE(bearer_ok("s3cret", "s3cret"));
}

}  // namespace
}  // namespace yktgw::status
