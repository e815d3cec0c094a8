// docs/upstream-https.md is what platform vendors implement against: its record examples must
// parse with the gateway's own parser and be byte for byte what the gateway writes, and its
// key table must match the configuration schema.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "gateway/config/config.h"
#include "gateway/outbox/batch_format.h"

namespace yktgw::outbox {
namespace {

std::string doc() {
  std::ifstream in(std::string(YKTGW_SOURCE_DIR) + "/docs/upstream-https.md");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> blocks(const std::string& text, const std::string& lang) {
  std::vector<std::string> out;
  const std::string open = "```" + lang + "\n";
  for (auto at = text.find(open); at != std::string::npos; at = text.find(open, at + 1)) {
    const auto start = at + open.size();
    out.push_back(text.substr(start, text.find("```", start) - start));
  }
  return out;
}

TEST(UpstreamHttpsDoc, RecordExamplesAreWhatTheGatewayWrites) {
  const auto examples = blocks(doc(), "ndjson");
  ASSERT_EQ(examples.size(), 3u);
  for (const std::string& lines : examples) {
    auto records = parse_record_lines(lines);
    ASSERT_TRUE(records) << records.error().message;
    std::string again;
    for (const auto& r : *records) append_record_line(r, again);
    EXPECT_EQ(again, lines);
  }
}

// docs/upstream-protocol.md shows the attendance kind as well; its lines are the gateway's too.
TEST(UpstreamProtocolDoc, RecordExamplesAreWhatTheGatewayWrites) {
  std::ifstream in(std::string(YKTGW_SOURCE_DIR) + "/docs/upstream-protocol.md");
  std::ostringstream s;
  s << in.rdbuf();
  const auto examples = blocks(s.str(), "ndjson");
  ASSERT_GE(examples.size(), 1u);
  bool attendance = false;
  for (const std::string& lines : examples) {
    auto records = parse_record_lines(lines);
    ASSERT_TRUE(records) << records.error().message;
    std::string again;
    for (const auto& r : *records) {
      append_record_line(r, again);
      attendance = attendance || r.record.kind == RecordKind::attendance;
    }
    EXPECT_EQ(again, lines);
  }
  EXPECT_TRUE(attendance);
}

TEST(UpstreamHttpsDoc, BatchIdExample) {
  const std::string id = batch_id("wl-xiangkou-01", "crossprov", 101, 600);
  EXPECT_THAT(doc(), ::testing::HasSubstr(id));
}

TEST(UpstreamHttpsDoc, KeyTableMatchesTheSchema) {
  const std::string text = doc();
  const std::regex row(R"(\| `((?:upstream|https|store)\.[a-z_]+)` \| `([^`]*)` \|)");
  int rows = 0;
  for (std::sregex_iterator it(text.begin(), text.end(), row), end; it != end; ++it) {
    ++rows;
    const std::string key = (*it)[1];
    const KeySpec* spec = find_key_spec(key);
    ASSERT_NE(spec, nullptr) << key;
    EXPECT_EQ(spec->default_text, (*it)[2].str()) << key;
  }
  int declared = 0;
  for (const KeySpec& spec : config_schema()) {
    if (spec.path.starts_with("upstream.") || spec.path.starts_with("https.") ||
        spec.path == "store.disk_quota_mb" || spec.path == "store.retention_days" ||
        spec.path == "store.wal_checkpoint_mb") {
      ++declared;
    }
  }
  EXPECT_EQ(rows, declared);
}

}  // namespace
}  // namespace yktgw::outbox
