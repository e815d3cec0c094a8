// docs/upstream-protocol.md is what platform implementers work from: every JSON example must
// decode with the gateway's own codec and encode back to the same document, every message type
// and every [district] config key must be described.

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "connectors/zmq/district_protocol.h"
#include "gateway/config/config.h"

namespace yktgw::district {
namespace {

struct Example {
  std::string type;
  std::string json;
  int line = 0;
};

std::string doc_text() {
  std::ifstream in(std::string(YKTGW_SOURCE_DIR) + "/docs/upstream-protocol.md");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// `<!-- example: TYPE -->` followed by a ```json fence.
std::vector<Example> examples(const std::string& text) {
  std::vector<Example> out;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  std::string pending;
  bool in_block = false;
  Example current;
  while (std::getline(in, line)) {
    ++number;
    const std::string marker = "<!-- example: ";
    if (!in_block && line.starts_with(marker)) {
      pending = line.substr(marker.size(), line.find(" -->") - marker.size());
      continue;
    }
    if (!in_block && line == "```json" && !pending.empty()) {
      in_block = true;
      current = Example{pending, "", number};
      pending.clear();
      continue;
    }
    if (in_block && line == "```") {
      in_block = false;
      out.push_back(current);
      continue;
    }
    if (in_block) current.json += line + "\n";
  }
  return out;
}

// Decodes with the type's decoder and encodes again; nullopt-like empty string on failure.
std::string round_trip(const Example& e, std::string& error) {
  auto fail = [&](const Error& err) {
    error = err.message;
    return std::string();
  };
  if (e.type == "HEARTBEAT") {
    auto v = decode_heartbeat(e.json);
    return v ? encode_heartbeat(*v) : fail(v.error());
  }
  if (e.type == "HEARTBEAT_ACK") {
    auto v = decode_heartbeat_ack(e.json);
    return v ? encode_heartbeat_ack(*v) : fail(v.error());
  }
  if (e.type == "AUTH_REQ") {
    auto v = decode_auth_request(e.json);
    return v ? encode_auth_request(*v) : fail(v.error());
  }
  if (e.type == "AUTH_RESP") {
    auto v = decode_auth_reply(e.json);
    return v ? encode_auth_reply(*v) : fail(v.error());
  }
  if (e.type == "ERROR") {
    auto v = decode_error(e.json);
    return v ? encode_error(*v) : fail(v.error());
  }
  if (e.type == "BATCH") {  // the header line of a BATCH payload
    auto v = decode_batch_header(e.json);
    return v ? encode_batch_header(*v) : fail(v.error());
  }
  if (e.type == "BATCH_ACK") {
    auto v = decode_batch_ack(e.json);
    return v ? encode_batch_ack(*v) : fail(v.error());
  }
  error = "no decoder for example type " + e.type;
  return {};
}

TEST(UpstreamProtocolDoc, EveryExampleDecodesAndEncodesBackTheSame) {
  const auto all = examples(doc_text());
  ASSERT_FALSE(all.empty()) << "docs/upstream-protocol.md is missing or has no examples";
  std::map<std::string, int> per_type;
  for (const Example& e : all) {
    SCOPED_TRACE("docs/upstream-protocol.md line " + std::to_string(e.line) + " (" + e.type + ")");
    ++per_type[e.type];
    std::string error;
    const std::string again = round_trip(e, error);
    ASSERT_FALSE(again.empty()) << error;
    EXPECT_EQ(nlohmann::json::parse(again), nlohmann::json::parse(e.json));
  }
  for (const char* type :
       {"HEARTBEAT", "HEARTBEAT_ACK", "AUTH_REQ", "AUTH_RESP", "BATCH", "BATCH_ACK", "ERROR"}) {
    EXPECT_GE(per_type[type], 1) << "no example of " << type;
  }
}

TEST(UpstreamProtocolDoc, NamesEveryMessageTypeAndDistrictKey) {
  const std::string text = doc_text();
  for (const auto t :
       {MessageType::heartbeat, MessageType::heartbeat_ack, MessageType::auth_req,
        MessageType::auth_resp, MessageType::batch, MessageType::batch_ack, MessageType::error}) {
    EXPECT_NE(text.find("`" + std::string(to_string(t)) + "`"), std::string::npos) << to_string(t);
  }
  EXPECT_NE(text.find(std::string(kProtocolTag)), std::string::npos);
  for (const KeySpec& spec : config_schema()) {
    if (!spec.path.starts_with("district.")) continue;
    EXPECT_NE(text.find("`" + spec.path + "`"), std::string::npos) << spec.path;
  }
}

}  // namespace
}  // namespace yktgw::district
