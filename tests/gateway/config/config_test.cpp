#include "gateway/config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/common/temp_dir.h"

namespace yktgw {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing::TempDir;

const fs::path kSourceDir = YKTGW_SOURCE_DIR;
const fs::path kExample = kSourceDir / "config" / "yktgw.toml";

// The smallest file the loader accepts: the three required keys.
constexpr const char* kMinimal =
    "[gateway]\n"
    "id = \"gw-1\"\n"
    "site = \"xiangkou\"\n"
    "[security]\n"
    "hmac_key_file = \"/etc/yktgw/hmac.key\"\n";

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

Result<Config> parse(const std::string& text, const std::vector<std::string>& overrides = {}) {
  return parse_config(text, "test.toml", overrides, "/etc/yktgw");
}

// kMinimal plus more tables. TOML allows each table header once, so `extra` must not reopen
// [gateway] or [security]. kMinimal is 5 lines: the first extra line is line 6.
Result<Config> parse_with(const std::string& extra,
                          const std::vector<std::string>& overrides = {}) {
  return parse(std::string(kMinimal) + extra, overrides);
}

std::string error_of(const Result<Config>& r) { return r ? "<ok>" : r.error().message; }

// ---- the example file and the schema table ---------------------------------------------------

TEST(ConfigExample, Loads) {
  auto config = load_config(kExample.string());
  ASSERT_TRUE(config) << error_of(config);
  EXPECT_EQ(config->gateway.id, "wl-xiangkou-01");
  EXPECT_EQ(config->gateway.site, "xiangkou");
  EXPECT_EQ(config->source_file, fs::absolute(kExample).lexically_normal().string());
  const fs::path key_file = config->security.hmac_key_file;
  EXPECT_TRUE(key_file.is_absolute());
  EXPECT_EQ(key_file, (kSourceDir / "config" / "dev-keys" / "hmac.key").lexically_normal());
  EXPECT_EQ(effective_mqtt_client_id(*config), "yktgw-wl-xiangkou-01");
}

TEST(ConfigExample, DevKeyIs32BytesOfHex) {
  const std::string key = read_text(kSourceDir / "config" / "dev-keys" / "hmac.key");
  ASSERT_EQ(key.size(), 65u);
  EXPECT_EQ(key.back(), '\n');
  EXPECT_TRUE(std::all_of(key.begin(), key.end() - 1,
                          [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }));
}

// Reads the example with toml++ directly, not through the loader, so a loader bug cannot hide a
// mismatch between the file and the table.
void collect_leaves(const toml::table& table, const std::string& prefix,
                    std::map<std::string, std::uint32_t>& leaves) {
  for (auto&& [key, node] : table) {
    const std::string path =
        prefix.empty() ? std::string(key.str()) : prefix + "." + std::string(key.str());
    if (const auto* sub = node.as_table()) {
      collect_leaves(*sub, path, leaves);
    } else {
      leaves[path] = key.source().begin.line;
    }
  }
}

TEST(ConfigExample, HasEveryKeyOfTheSchemaAndNoOther) {
  const std::string text = read_text(kExample);
  toml::table doc;
  ASSERT_NO_THROW(doc = toml::parse(text, kExample.string()));
  std::map<std::string, std::uint32_t> leaves;
  collect_leaves(doc, "", leaves);

  std::set<std::string> declared;
  for (const KeySpec& spec : config_schema()) {
    declared.insert(spec.path);
    EXPECT_TRUE(leaves.contains(spec.path)) << spec.path << " missing from " << kExample;
  }
  for (const auto& [path, line] : leaves) {
    EXPECT_TRUE(declared.contains(path))
        << kExample << ":" << line << ": " << path << " is not in config_schema()";
  }
}

TEST(ConfigExample, EveryKeyHasABilingualCommentRightAboveIt) {
  const std::string text = read_text(kExample);
  const std::vector<std::string> lines = split_lines(text);
  toml::table doc = toml::parse(text, kExample.string());
  std::map<std::string, std::uint32_t> leaves;
  collect_leaves(doc, "", leaves);
  ASSERT_FALSE(leaves.empty());
  for (const auto& [path, line] : leaves) {
    ASSERT_GE(line, 2u) << path;
    const std::string& above = lines[line - 2];  // `line` is 1-based
    EXPECT_TRUE(above.starts_with("#")) << path << ": line above is '" << above << "'";
    const bool has_chinese = std::any_of(
        above.begin(), above.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
    const bool has_english = std::count_if(above.begin(), above.end(), [](char c) {
                               return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
                             }) >= 4;
    EXPECT_TRUE(has_chinese && has_english) << path << ": comment needs Chinese and English";
    EXPECT_THAT(above, HasSubstr(" / ")) << path << ": write it as '# 中文 / English'";
  }
}

TEST(ConfigSchema, IsWellFormed) {
  std::set<std::string> paths;
  for (const KeySpec& spec : config_schema()) {
    SCOPED_TRACE(spec.path);
    EXPECT_TRUE(paths.insert(spec.path).second) << "declared twice";
    EXPECT_EQ(find_key_spec(spec.path), &spec);
    EXPECT_FALSE(spec.description.empty());
    EXPECT_EQ(spec.description.find('\n'), std::string::npos);
    if (spec.required) {
      EXPECT_TRUE(spec.default_text.empty());
    } else {
      EXPECT_FALSE(spec.default_text.empty());
    }
    if (spec.type == KeyType::integer) {
      EXPECT_LE(spec.min_value, spec.max_value);
      EXPECT_GE(spec.min_value, std::numeric_limits<int>::min());
      EXPECT_LE(spec.max_value, std::numeric_limits<int>::max());
      const std::int64_t def = std::stoll(spec.default_text);
      EXPECT_GE(def, spec.min_value);
      EXPECT_LE(def, spec.max_value);
    }
  }
  EXPECT_EQ(find_key_spec("mqtt"), nullptr);
  EXPECT_EQ(find_key_spec("nope"), nullptr);
}

TEST(ConfigSchema, OnlyLogLevelAndWarnIntervalReload) {
  std::vector<std::string> reloadable;
  for (const KeySpec& spec : config_schema()) {
    if (spec.reloadable) reloadable.push_back(spec.path);
  }
  EXPECT_EQ(reloadable, (std::vector<std::string>{"log.level", "log.warn_interval_ms"}));
}

TEST(ConfigSchema, DefaultsLandInConfig) {
  auto config = parse(kMinimal);
  ASSERT_TRUE(config) << error_of(config);
  for (const KeySpec& spec : config_schema()) {
    if (spec.required) continue;
    auto text = config_value_text(*config, spec.path);
    ASSERT_TRUE(text) << spec.path;
    EXPECT_EQ(*text, spec.default_text) << spec.path;
  }
  // The struct's own initialisers agree with the table where it has them.
  const Config plain;
  EXPECT_EQ(plain.gateway.workers, config->gateway.workers);
  EXPECT_EQ(plain.mqtt.reconnect_max_ms, config->mqtt.reconnect_max_ms);
  EXPECT_EQ(plain.log.file_max_bytes, config->log.file_max_bytes);
  EXPECT_EQ(plain.store.synchronous, config->store.synchronous);
}

// Setting one key must change exactly that key's field: catches two keys bound to one field.
TEST(ConfigSchema, EachKeyBindsItsOwnField) {
  const std::map<std::string, std::string> string_values = {
      {"gateway.id", "other-id"},
      {"gateway.site", "xiannvshan"},
      {"gateway.data_dir", "/srv/yktgw"},
      {"mqtt.uri", "ssl://broker.example:8883"},
      {"mqtt.client_id", "cid-7"},
      {"mqtt.shared_group", "wl-xiangkou"},
      {"mqtt.username", "gw"},
      {"mqtt.password", "pw"},
      {"mqtt.tls.ca_file", "/etc/ssl/ca.pem"},
      {"store.synchronous", "normal"},
      {"security.hmac_key_file", "/srv/other.key"},
      {"log.level", "debug"},
      {"credentials.terminal_mac_keys_file", "/etc/yktgw/terminal-mac.keys"},
      {"credentials.ecard_key_dir", "/etc/yktgw/ecard"},
      {"credentials.ykm_key_dir", "/etc/yktgw/ykm"},
      {"cardlist.groups", "staff,guard"},
      {"cardlist.platform_public_key_file", "/etc/yktgw/platform-feed.pub.pem"},
      {"cardlist.ca_file", "/etc/yktgw/platform-ca.pem"},
      {"policy.file", "/srv/policies.toml"},
      {"policy.service_items_file", "/srv/service-items.toml"},
      {"district.server_public_key", "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"},
      {"district.client_key_file", "/etc/yktgw/district.key"},
      {"upstream.district_regions", "50,11"},
      {"upstream.crossprov_regions", "51"},
      {"upstream.unknown_region_destination", "both"},
      {"upstream.no_card_destination", "crossprov"},
      {"https.ca_file", "/etc/yktgw/crossprov-ca.pem"},
      {"status.listen", "127.0.0.2:9443"},
      {"status.token", "s3cret-token"},
  };
  auto base = parse(kMinimal);
  ASSERT_TRUE(base) << error_of(base);
  for (const KeySpec& spec : config_schema()) {
    SCOPED_TRACE(spec.path);
    std::vector<std::string> overrides;
    std::set<std::string> expect_changed = {spec.path};
    if (spec.path == "mqtt.tls.cert_file" || spec.path == "mqtt.tls.key_file") {
      overrides = {"mqtt.tls.cert_file=/c.pem", "mqtt.tls.key_file=/k.pem"};
      expect_changed = {"mqtt.tls.cert_file", "mqtt.tls.key_file"};
    } else if (spec.path == "https.client_cert_file" || spec.path == "https.client_key_file") {
      overrides = {"https.client_cert_file=/c.pem", "https.client_key_file=/k.pem"};
      expect_changed = {"https.client_cert_file", "https.client_key_file"};
    } else if (spec.path == "https.url") {
      // A url turns the link on, and the link needs its pinned CA.
      overrides = {"https.url=https://10.51.0.8:8443/ykt", "https.ca_file=/etc/yktgw/ca.pem"};
      expect_changed = {"https.url", "https.ca_file"};
    } else if (spec.path == "cardlist.feed_url") {
      // A feed is only taken with the key that checks its signature.
      overrides = {"cardlist.feed_url=https://10.50.0.8:8443/ykt",
                   "cardlist.platform_public_key_file=/etc/yktgw/platform-feed.pub.pem"};
      expect_changed = {"cardlist.feed_url", "cardlist.platform_public_key_file"};
    } else if (spec.path == "district.endpoint") {
      // An endpoint turns the link on, and a link needs both CURVE keys.
      overrides = {"district.endpoint=tcp://10.50.0.8:7100",
                   "district.server_public_key=" + string_values.at("district.server_public_key"),
                   "district.client_key_file=/etc/yktgw/district.key"};
      expect_changed = {"district.endpoint", "district.server_public_key",
                        "district.client_key_file"};
    } else if (spec.type == KeyType::boolean) {
      overrides = {spec.path + "=" + (spec.default_text == "true" ? "false" : "true")};
    } else if (spec.type == KeyType::integer) {
      const std::string lo = std::to_string(spec.min_value);
      overrides = {spec.path + "=" +
                   (lo != spec.default_text ? lo : std::to_string(spec.max_value))};
      if (!parse(kMinimal, overrides))
        overrides = {spec.path + "=" + std::to_string(spec.max_value)};
    } else {
      ASSERT_TRUE(string_values.contains(spec.path)) << "add a test value for this key";
      overrides = {spec.path + "=" + string_values.at(spec.path)};
    }
    auto changed = parse(kMinimal, overrides);
    ASSERT_TRUE(changed) << error_of(changed);
    for (const KeySpec& other : config_schema()) {
      const bool differs =
          *config_value_text(*base, other.path) != *config_value_text(*changed, other.path);
      EXPECT_EQ(differs, expect_changed.contains(other.path)) << "looking at " << other.path;
    }
  }
}

// ---- errors from the file --------------------------------------------------------------------

TEST(ConfigErrors, UnknownKeyNamesFileLineAndPath) {
  TempDir dir;
  const fs::path file = dir.write("gw.toml", std::string(kMinimal) + "[a.b]\nc = 1\n");
  auto config = load_config(file.string());
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, "unknown_key");
  EXPECT_EQ(config.error().message, file.string() + ":7:1: unknown key 'a.b.c'");
}

TEST(ConfigErrors, UnknownKeyInsideADeclaredTable) {
  auto config = parse_with("[mqtt]\nkeepalive_s = 30\nurl = \"tcp://x\"\n");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, "unknown_key");
  EXPECT_EQ(config.error().message, "test.toml:8:1: unknown key 'mqtt.url'");
}

TEST(ConfigErrors, EmptyUnknownTable) {
  auto config = parse_with("[extras]\n");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, "unknown_key");
  EXPECT_THAT(config.error().message, HasSubstr("unknown key 'extras'"));
}

TEST(ConfigErrors, QuotedKeyWithADotIsNotAPath) {
  auto config = parse(std::string("\"log.level\" = \"info\"\n") + kMinimal);
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().message, "test.toml:1:1: unknown key '\"log.level\"'");
}

TEST(ConfigErrors, ReportsTheFirstProblemInTheFile) {
  // toml++ iterates keys alphabetically; the report must still follow the file.
  auto config = parse_with("[store]\nzzz = 1\n[log]\naaa = 2\n");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().message, "test.toml:7:1: unknown key 'store.zzz'");
}

TEST(ConfigErrors, WrongType) {
  auto config = parse_with("[mqtt]\nkeepalive_s = \"30\"\n");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, "wrong_type");
  EXPECT_EQ(config.error().message,
            "test.toml:7:15: key 'mqtt.keepalive_s' must be an integer, got string");

  config = parse_with("[mqtt]\npersistent_session = 1\n");
  ASSERT_FALSE(config);
  EXPECT_THAT(config.error().message,
              HasSubstr("key 'mqtt.persistent_session' must be a boolean, got integer"));

  config = parse_with("[log]\nfile_count = 5.0\n");
  ASSERT_FALSE(config);
  EXPECT_THAT(config.error().message, HasSubstr("must be an integer, got float"));

  config = parse_with("[mqtt]\nuri = [\"tcp://a\"]\n");
  ASSERT_FALSE(config);
  EXPECT_THAT(config.error().message, HasSubstr("key 'mqtt.uri' must be a string, got array"));
}

TEST(ConfigErrors, TableWhereLeafExpectedAndTheOtherWayRound) {
  auto config = parse_with("[mqtt.uri]\nhost = \"x\"\n");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, "wrong_type");
  EXPECT_THAT(config.error().message, HasSubstr("key 'mqtt.uri' must be a string, got table"));

  config = parse(std::string("log = 3\n") + kMinimal);
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, "wrong_type");
  EXPECT_EQ(config.error().message, "test.toml:1:7: key 'log' must be a table, got integer");

  config = parse_with("[mqtt]\ntls = \"on\"\n");
  ASSERT_FALSE(config);
  EXPECT_THAT(config.error().message, HasSubstr("key 'mqtt.tls' must be a table, got string"));
}

TEST(ConfigErrors, BadEnumValue) {
  auto config = parse_with("[log]\nlevel = \"loud\"\n");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, "invalid_value");
  EXPECT_EQ(config.error().message,
            "test.toml:7:9: key 'log.level' has invalid value 'loud': expected one of trace, "
            "debug, info, warn, error, critical, off");

  config = parse_with("[store]\nsynchronous = \"FULL\"\n");
  ASSERT_FALSE(config);
  EXPECT_THAT(config.error().message, HasSubstr("expected one of full, normal"));
}

TEST(ConfigErrors, IntegerOutOfRange) {
  Result<Config> config = make_error("", "");
  for (const char* bad : {"0", "65", "-1", "4294967298", "9223372036854775807"}) {
    config = parse(std::string("[gateway]\nid = \"g\"\nsite = \"s\"\nworkers = ") + bad +
                   "\n[security]\nhmac_key_file = \"k\"\n");
    ASSERT_FALSE(config) << bad;
    EXPECT_EQ(config.error().code, "invalid_value");
    EXPECT_EQ(config.error().message,
              std::string("test.toml:4:11: key 'gateway.workers' has invalid "
                          "value '") +
                  bad + "': expected an integer in 1..64");
  }
  config = parse_with("[log]\nfile_max_bytes = 2147483648\n");
  ASSERT_FALSE(config);
  EXPECT_THAT(config.error().message, HasSubstr("expected an integer in 65536..1073741824"));
}

TEST(ConfigErrors, IntegerBeyond64BitsIsASyntaxError) {
  auto config = parse_with("[log]\nfile_count = 99999999999999999999\n");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, "syntax");
  EXPECT_THAT(config.error().message, StartsWith("test.toml:7:"));
}

TEST(ConfigErrors, MissingRequiredKey) {
  auto config = parse("[gateway]\nsite = \"s\"\n[security]\nhmac_key_file = \"k\"\n");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, "missing_key");
  EXPECT_EQ(config.error().message, "test.toml: missing required key 'gateway.id'");

  config = parse("[gateway]\nid = \"g\"\nsite = \"s\"\n");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().message, "test.toml: missing required key 'security.hmac_key_file'");

  config = parse("");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, "missing_key");
}

TEST(ConfigErrors, SyntaxError) {
  TempDir dir;
  const fs::path file = dir.write("bad.toml", "[gateway]\nid = \"unterminated\n");
  auto config = load_config(file.string());
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, "syntax");
  EXPECT_THAT(config.error().message, StartsWith(file.string() + ":2:"));
  EXPECT_GT(config.error().message.size(), file.string().size() + 8) << "has a description";

  config = parse("[gateway\n");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, "syntax");
  EXPECT_THAT(config.error().message, StartsWith("test.toml:1:"));

  config = parse(std::string(kMinimal) + "[gateway]\nworkers = 3\n");  // table defined twice
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, "syntax");
}

TEST(ConfigErrors, MissingFileIsIo) {
  TempDir dir;
  auto config = load_config((dir.path() / "absent.toml").string());
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, "io");
  EXPECT_THAT(config.error().message, HasSubstr("absent.toml"));

  config = load_config(dir.path().string());
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, "io");
}

TEST(ConfigErrors, NamesMustBeTopicSafe) {
  for (const char* bad : {"", "has space", "a/b", "a+b", "站点"}) {
    auto config = parse(std::string("[gateway]\nid = \"") + bad +
                        "\"\nsite = \"s\"\n[security]\nhmac_key_file = \"k\"\n");
    ASSERT_FALSE(config) << bad;
    EXPECT_EQ(config.error().code, "invalid_value");
    EXPECT_THAT(config.error().message, HasSubstr("key 'gateway.id' has invalid value"));
  }
  EXPECT_TRUE(parse(
      {}, {"gateway.id=" + std::string(64, 'a'), "gateway.site=s", "security.hmac_key_file=k"}));
  EXPECT_FALSE(parse(
      {}, {"gateway.id=" + std::string(65, 'a'), "gateway.site=s", "security.hmac_key_file=k"}));
}

TEST(ConfigErrors, MqttUri) {
  for (const char* good : {"tcp://127.0.0.1:1883", "ssl://broker:8883", "mqtt://host",
                           "mqtts://h.example:8883/", "tcp://[::1]:1883"}) {
    EXPECT_TRUE(parse(kMinimal, {std::string("mqtt.uri=") + good})) << good;
  }
  for (const char* bad : {"http://host:80", "tcp://", "tcp://:1883", "127.0.0.1:1883",
                          "tcp://host:0", "tcp://host:65536", "tcp://host:x", "tcp://host/path",
                          "tcp://user@host", "tcp://::1:1883", "TCP://host"}) {
    auto config = parse(kMinimal, {std::string("mqtt.uri=") + bad});
    ASSERT_FALSE(config) << bad;
    EXPECT_EQ(config.error().code, "invalid_value") << bad;
  }
  auto config = parse_with("[mqtt]\nuri = \"ws://host\"\n");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().message,
            "test.toml:7:7: key 'mqtt.uri' has invalid value 'ws://host': expected scheme tcp, "
            "ssl, mqtt or mqtts");
}

TEST(ConfigErrors, ClientIdWithoutWildcards) {
  EXPECT_TRUE(parse(kMinimal, {"mqtt.client_id=gw-1"}));
  for (const char* bad : {"a+b", "a#", "a/b"}) {
    auto config = parse(kMinimal, {std::string("mqtt.client_id=") + bad});
    ASSERT_FALSE(config) << bad;
    EXPECT_THAT(config.error().message, HasSubstr("expected no '+', '#' or '/'"));
  }
  auto config = parse(kMinimal, {"mqtt.client_id=fixed"});
  ASSERT_TRUE(config);
  EXPECT_EQ(effective_mqtt_client_id(*config), "fixed");
}

TEST(ConfigErrors, RequiredPathMustNotBeEmpty) {
  auto config = parse(kMinimal, {"gateway.data_dir="});
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().message,
            "--set gateway.data_dir=: key 'gateway.data_dir' has invalid value '': expected a "
            "non-empty path");
}

TEST(ConfigErrors, ReconnectMaxBelowMin) {
  auto config = parse_with("[mqtt]\nreconnect_min_ms = 500\nreconnect_max_ms = 400\n");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, "invalid_value");
  EXPECT_EQ(config.error().message,
            "test.toml:8:20: key 'mqtt.reconnect_max_ms' has invalid value '400': expected at "
            "least mqtt.reconnect_min_ms (500)");

  // Raising only the minimum past the default maximum is blamed on the minimum.
  config = parse(kMinimal, {"mqtt.reconnect_min_ms=60000"});
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().message,
            "--set mqtt.reconnect_min_ms=60000: key 'mqtt.reconnect_min_ms' has invalid value "
            "'60000': expected at most mqtt.reconnect_max_ms (30000)");

  EXPECT_TRUE(parse(kMinimal, {"mqtt.reconnect_min_ms=1000", "mqtt.reconnect_max_ms=1000"}));
}

TEST(ConfigErrors, CertAndKeyGoTogether) {
  auto config = parse_with("[mqtt.tls]\ncert_file = \"gw.pem\"\n");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, "invalid_value");
  EXPECT_EQ(config.error().message,
            "test.toml:7:13: key 'mqtt.tls.cert_file' is set but 'mqtt.tls.key_file' is not; "
            "set both or neither");

  config = parse(kMinimal, {"mqtt.tls.key_file=gw.key"});
  ASSERT_FALSE(config);
  EXPECT_THAT(config.error().message, StartsWith("--set mqtt.tls.key_file=gw.key: "));

  EXPECT_TRUE(parse_with("[mqtt.tls]\ncert_file = \"gw.pem\"\nkey_file = \"gw.key\"\n"));
}

// ---- --set overrides -------------------------------------------------------------------------

TEST(ConfigOverrides, StringIntAndBool) {
  auto config = parse(kMinimal, {"gateway.site=xiannvshan", "gateway.workers=8",
                                 "mqtt.tls.verify=false", "log.level=\"debug\""});
  ASSERT_TRUE(config) << error_of(config);
  EXPECT_EQ(config->gateway.site, "xiannvshan");
  EXPECT_EQ(config->gateway.workers, 8);
  EXPECT_FALSE(config->mqtt.tls.verify);
  EXPECT_EQ(config->log.level, "debug");
}

TEST(ConfigOverrides, WinOverTheFileAndTakeStringsLiterally) {
  auto config = parse_with("[mqtt]\npassword = \"from-file\"\n",
                           {"mqtt.password=a=b \"c\"", "mqtt.username= spaced "});
  ASSERT_TRUE(config) << error_of(config);
  EXPECT_EQ(config->mqtt.password, "a=b \"c\"");
  EXPECT_EQ(config->mqtt.username, " spaced ");

  config = parse(kMinimal, {"mqtt.username=\"\""});
  ASSERT_TRUE(config);
  EXPECT_EQ(config->mqtt.username, "");
}

TEST(ConfigOverrides, CanSupplyRequiredKeys) {
  auto config = parse("", {"gateway.id=g", "gateway.site=s", "security.hmac_key_file=k"});
  ASSERT_TRUE(config) << error_of(config);
  EXPECT_EQ(config->gateway.id, "g");
}

TEST(ConfigOverrides, UnknownKey) {
  auto config = parse(kMinimal, {"gateway.nope=1"});
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, "unknown_key");
  EXPECT_EQ(config.error().message, "--set: unknown key 'gateway.nope'");

  config = parse(kMinimal, {"mqtt.tls=1"});  // a table, not a key
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().message, "--set: unknown key 'mqtt.tls'");
}

TEST(ConfigOverrides, WrongTypeAndBadValue) {
  auto config = parse(kMinimal, {"gateway.workers=abc"});
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, "wrong_type");
  EXPECT_EQ(config.error().message,
            "--set gateway.workers=abc: key 'gateway.workers' must be an integer, got 'abc'");

  for (const char* bad : {"gateway.workers=", "gateway.workers=4 ", "gateway.workers=0x10",
                          "gateway.workers=+4", "gateway.workers=\"4\"", "gateway.workers=4.0"}) {
    config = parse(kMinimal, {bad});
    ASSERT_FALSE(config) << bad;
    EXPECT_EQ(config.error().code, "wrong_type") << bad;
  }

  config = parse(kMinimal, {"log.console=yes"});
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().message,
            "--set log.console=yes: key 'log.console' must be a boolean, got 'yes'");

  config = parse(kMinimal, {"gateway.workers=0"});
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, "invalid_value");
  EXPECT_EQ(config.error().message,
            "--set gateway.workers=0: key 'gateway.workers' has invalid value '0': expected an "
            "integer in 1..64");

  config = parse(kMinimal, {"gateway.workers=99999999999999999999999"});
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, "invalid_value");

  config = parse(kMinimal, {"log.level=loud"});
  ASSERT_FALSE(config);
  EXPECT_THAT(config.error().message,
              StartsWith("--set log.level=loud: key 'log.level' has invalid value 'loud'"));
}

TEST(ConfigOverrides, MalformedOverride) {
  auto config = parse(kMinimal, {"gateway.workers"});
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, "syntax");
  EXPECT_EQ(config.error().message, "--set 'gateway.workers': expected key=value");
}

// ---- paths -----------------------------------------------------------------------------------

TEST(ConfigPaths, RelativePathsResolveAgainstTheConfigDirectory) {
  TempDir dir;
  const fs::path file = dir.write("etc/gw.toml",
                                  "[gateway]\nid = \"g\"\nsite = \"s\"\ndata_dir = \"data\"\n"
                                  "[mqtt.tls]\nca_file = \"../pki/./ca.pem\"\n"
                                  "cert_file = \"/abs/gw.pem\"\nkey_file = \"gw.key\"\n"
                                  "[security]\nhmac_key_file = \"keys/hmac.key\"\n");
  auto config = load_config(file.string(), {"gateway.data_dir=var/../state"});
  ASSERT_TRUE(config) << error_of(config);
  const fs::path etc = fs::absolute(dir.path() / "etc").lexically_normal();
  EXPECT_EQ(config->gateway.data_dir, (etc / "state").string());
  EXPECT_EQ(config->mqtt.tls.ca_file, (dir.path() / "pki" / "ca.pem").lexically_normal().string());
  EXPECT_EQ(config->mqtt.tls.cert_file, "/abs/gw.pem");
  EXPECT_EQ(config->mqtt.tls.key_file, (etc / "gw.key").string());
  EXPECT_EQ(config->security.hmac_key_file, (etc / "keys" / "hmac.key").string());
  EXPECT_EQ(config->source_file, file.lexically_normal().string());
}

TEST(ConfigPaths, ParseConfigUsesBaseDirAndLeavesEmptyPathsEmpty) {
  auto config = parse_config(kMinimal, "inline", {"security.hmac_key_file=k.hex"}, "/opt/gw");
  ASSERT_TRUE(config) << error_of(config);
  EXPECT_EQ(config->security.hmac_key_file, "/opt/gw/k.hex");
  EXPECT_EQ(config->mqtt.tls.ca_file, "");
  EXPECT_EQ(config->source_file, "");

  config = parse_config(kMinimal, "inline", {"security.hmac_key_file=k.hex"});  // base "."
  ASSERT_TRUE(config);
  EXPECT_EQ(config->security.hmac_key_file, (fs::current_path() / "k.hex").string());
}

// Messages about a key's value found after loading (a file it names that cannot be read) start
// where the value came from.
TEST(ConfigPaths, KeyContextNamesWhereTheValueWasSet) {
  auto config = parse_config(kMinimal, "yktgw.toml", {"policy.file=/x/policies.toml"});
  ASSERT_TRUE(config) << error_of(config);
  EXPECT_EQ(config->source_name, "yktgw.toml");
  EXPECT_EQ(key_context(*config, "security.hmac_key_file"),
            "yktgw.toml:5:17: key 'security.hmac_key_file'");
  EXPECT_EQ(key_context(*config, "policy.file"), "--set policy.file: key 'policy.file'");
  EXPECT_EQ(key_context(*config, "policy.service_items_file"),
            "yktgw.toml: key 'policy.service_items_file' (default)");
  const Error e = in_key(*config, "policy.file", make_error("io", "cannot read 'x': why"));
  EXPECT_EQ(e.code, "io");
  EXPECT_EQ(e.message, "--set policy.file: key 'policy.file': cannot read 'x': why");
  ASSERT_NE(config_string(*config, "policy.file"), nullptr);
  EXPECT_EQ(*config_string(*config, "policy.file"), "/x/policies.toml");
  EXPECT_EQ(config_string(*config, "gateway.workers"), nullptr);
}

// Every path key says what the gateway does with it, so check-config can check the inputs.
TEST(ConfigSchema, EveryPathKeyHasARole) {
  for (const KeySpec& spec : config_schema()) {
    const bool is_path =
        spec.check == StringCheck::path || spec.check == StringCheck::optional_path;
    EXPECT_EQ(is_path, spec.path_role != PathRole::none) << spec.path;
  }
  EXPECT_EQ(find_key_spec("gateway.data_dir")->path_role, PathRole::state_dir);
  EXPECT_EQ(find_key_spec("credentials.ecard_key_dir")->path_role, PathRole::input_dir);
  EXPECT_EQ(find_key_spec("policy.file")->path_role, PathRole::input_file);
}

// ---- reload ----------------------------------------------------------------------------------

TEST(ConfigReload, KeysNeedingRestart) {
  auto before = parse(kMinimal);
  ASSERT_TRUE(before);
  EXPECT_TRUE(keys_needing_restart(*before, *before).empty());

  auto reloadable = parse(kMinimal, {"log.level=debug", "log.warn_interval_ms=0"});
  ASSERT_TRUE(reloadable);
  EXPECT_TRUE(keys_needing_restart(*before, *reloadable).empty());

  auto restart = parse(kMinimal, {"log.level=warn", "mqtt.uri=ssl://b:8883", "gateway.workers=4",
                                  "mqtt.tls.verify=false"});
  ASSERT_TRUE(restart);
  EXPECT_EQ(keys_needing_restart(*before, *restart),
            (std::vector<std::string>{"gateway.workers", "mqtt.uri", "mqtt.tls.verify"}));
}

TEST(ConfigValueText, QuotesStringsAndRefusesUnknownKeys) {
  auto config = parse(kMinimal, {"mqtt.password=say \"hi\"\\\n"});
  ASSERT_TRUE(config) << error_of(config);
  EXPECT_EQ(*config_value_text(*config, "mqtt.password"), R"("say \"hi\"\\\n")");
  EXPECT_EQ(*config_value_text(*config, "mqtt.keepalive_s"), "30");
  EXPECT_EQ(*config_value_text(*config, "log.console"), "true");
  auto unknown = config_value_text(*config, "mqtt");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, "unknown_key");
}

// ---- [district]: the ZeroMQ district link ------------------------------------------------------

constexpr const char* kServerKey = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";

TEST(ConfigDistrict, OffByDefaultAndTheExampleLoads) {
  auto config = parse(kMinimal);
  ASSERT_TRUE(config) << error_of(config);
  EXPECT_TRUE(config->district.endpoint.empty());
  EXPECT_EQ(config->district.heartbeat_interval_ms, 1000);
  EXPECT_EQ(config->district.heartbeat_timeout_ms, 3500);
  EXPECT_EQ(config->district.online_max_inflight, 1000);
  auto example = load_config(kExample.string());
  ASSERT_TRUE(example) << error_of(example);
  EXPECT_EQ(example->district.client_key_file,
            (kSourceDir / "config" / "dev-keys" / "district-client.key").lexically_normal());
}

TEST(ConfigDistrict, EndpointMustBeTcpWithAPort) {
  const std::vector<std::string> good = {"tcp://127.0.0.1:7100", "tcp://platform.cq.gov:7100",
                                         "tcp://[::1]:7100"};
  for (const std::string& e : good) {
    EXPECT_TRUE(parse(kMinimal, {"district.endpoint=" + e,
                                 std::string("district.server_public_key=") + kServerKey,
                                 "district.client_key_file=/k"}))
        << e;
  }
  const std::vector<std::string> bad = {"127.0.0.1:7100", "tcp://127.0.0.1",       "ipc:///tmp/x",
                                        "tcp://:7100",    "tcp://127.0.0.1:70000", "tcp://*:7100",
                                        "tcp://::1:7100"};
  for (const std::string& e : bad) {
    auto config = parse(kMinimal, {"district.endpoint=" + e});
    ASSERT_FALSE(config) << e;
    EXPECT_EQ(config.error().code, "invalid_value") << e;
    EXPECT_THAT(config.error().message, HasSubstr("district.endpoint")) << e;
  }
}

TEST(ConfigDistrict, ServerKeyMustBeZ85) {
  EXPECT_TRUE(parse(kMinimal, {std::string("district.server_public_key=") + kServerKey}));
  for (const std::string& k : {std::string("short"), std::string(40, '"'), std::string(40, '#')}) {
    auto config = parse(kMinimal, {"district.server_public_key=" + k});
    ASSERT_FALSE(config) << k;
    EXPECT_THAT(config.error().message, HasSubstr("40 characters of Z85"));
  }
}

TEST(ConfigDistrict, AnEndpointNeedsBothKeys) {
  auto config = parse_with("[district]\nendpoint = \"tcp://127.0.0.1:7100\"\n");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, "invalid_value");
  EXPECT_EQ(config.error().message,
            "test.toml:7:12: key 'district.endpoint' is set but 'district.server_public_key' is "
            "not; set both or leave the endpoint empty");
  config = parse(kMinimal, {"district.endpoint=tcp://127.0.0.1:7100",
                            std::string("district.server_public_key=") + kServerKey});
  ASSERT_FALSE(config);
  EXPECT_THAT(config.error().message, HasSubstr("'district.client_key_file' is not"));
}

TEST(ConfigDistrict, HeartbeatTimeoutMustExceedTheInterval) {
  auto config =
      parse_with("[district]\nheartbeat_interval_ms = 1000\nheartbeat_timeout_ms = 1000\n");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().message,
            "test.toml:8:24: key 'district.heartbeat_timeout_ms' has invalid value '1000': "
            "expected more than district.heartbeat_interval_ms (1000)");
  config = parse(kMinimal, {"district.heartbeat_interval_ms=5000"});
  ASSERT_FALSE(config);
  EXPECT_THAT(config.error().message, StartsWith("--set district.heartbeat_interval_ms=5000: "));
  EXPECT_TRUE(parse(
      kMinimal, {"district.heartbeat_interval_ms=5000", "district.heartbeat_timeout_ms=15000"}));
}

// ---- cardlist feed (docs/cardlist-feed.md) ----------------------------------------------------

TEST(ConfigCardList, NoFeedByDefault) {
  auto config = parse(kMinimal);
  ASSERT_TRUE(config) << error_of(config);
  EXPECT_TRUE(config->cardlist.feed_url.empty());
  EXPECT_EQ(config->cardlist.poll_interval_s, 60);
  EXPECT_EQ(config->cardlist.snapshot_timeout_s, 600);
  EXPECT_EQ(config->cardlist.max_age_s, 86400);
}

TEST(ConfigCardList, FeedUrlIsHttpOrHttpsAndNeedsThePlatformKey) {
  const std::string key = "cardlist.platform_public_key_file=/etc/yktgw/platform.pub.pem";
  for (const char* url :
       {"http://127.0.0.1:8080", "https://platform.cq.gov/ykt/", "https://[::1]:8443/ykt"}) {
    auto config = parse(kMinimal, {std::string("cardlist.feed_url=") + url, key});
    ASSERT_TRUE(config) << url << ": " << error_of(config);
    EXPECT_EQ(config->cardlist.feed_url, url);
  }
  for (const char* url : {"ftp://x/y", "https://h/p?from=1", "https://u@h/", "h:80", "http://"}) {
    auto config = parse(kMinimal, {std::string("cardlist.feed_url=") + url, key});
    ASSERT_FALSE(config) << url;
    EXPECT_THAT(config.error().message, HasSubstr("expected http(s)://host")) << url;
  }
  auto config = parse_with("[cardlist]\nfeed_url = \"http://127.0.0.1:8080\"\n");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().message,
            "test.toml:7:12: key 'cardlist.feed_url' is set but "
            "'cardlist.platform_public_key_file' is not; set both or leave the feed URL empty");
}

TEST(ConfigStatus, NonLoopbackListenNeedsAToken) {
  auto config = parse(kMinimal, {"status.listen=0.0.0.0:8080"});
  ASSERT_FALSE(config);
  EXPECT_THAT(config.error().message, HasSubstr("'status.token' is not set")) << error_of(config);
  EXPECT_FALSE(parse(kMinimal, {"status.listen=10.50.0.8:8080"}));
  EXPECT_FALSE(parse(kMinimal, {"status.listen=gw-1.lan:8080"}));
  EXPECT_TRUE(parse(kMinimal, {"status.listen=0.0.0.0:8080", "status.token=t0ken"}));
  EXPECT_TRUE(parse(kMinimal, {"status.listen=localhost:8080"}));
  EXPECT_TRUE(parse(kMinimal, {"status.listen=127.1.2.3:8080"}));
}

TEST(ConfigStatus, ListenIsHostPortOrEmpty) {
  auto config = parse(kMinimal);
  ASSERT_TRUE(config) << error_of(config);
  EXPECT_EQ(config->status.listen, "127.0.0.1:8080");
  EXPECT_EQ(config->status.token, "");
  for (const char* good :
       {"127.0.0.1:9090", "0.0.0.0:80", "localhost:8080", "gw-1.lan:65535", ""}) {
    auto c = parse(kMinimal, {std::string("status.listen=") + good, "status.token=t"});
    ASSERT_TRUE(c) << good << ": " << error_of(c);
    EXPECT_EQ(c->status.listen, good);
  }
  for (const char* bad : {"8080", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:70000",
                          ":8080", "http://127.0.0.1:8080", "127.0.0.1:80x", "[::1]:8080"}) {
    auto c = parse(kMinimal, {std::string("status.listen=") + bad});
    ASSERT_FALSE(c) << bad;
    EXPECT_THAT(c.error().message, HasSubstr("expected host:port")) << bad;
  }
}

}  // namespace
}  // namespace yktgw
