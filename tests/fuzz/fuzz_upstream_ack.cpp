// What the district platform sends back over ZeroMQ (frames, BATCH_ACK, ERROR, AUTH replies,
// heartbeats) and the HTTPS link's answer handling (Retry-After, body excerpts).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/https/http_outcome.h"
#include "connectors/zmq/district_protocol.h"

using namespace yktgw;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)district::decode_batch_ack(in);
  (void)district::decode_error(in);
  (void)district::decode_auth_reply(in);
  (void)district::decode_heartbeat_ack(in);
  (void)district::decode_heartbeat(in);
  (void)district::decode_batch(in);
  (void)district::decode_auth_request(in);
  (void)district::message_type_from(in);
  if (auto ack = district::decode_batch_ack(in)) {
    if (!district::decode_batch_ack(district::encode_batch_ack(*ack))) __builtin_trap();
  }
  // Frames: split the input at 0xFF bytes.
  std::vector<std::string> frames(1);
  for (char c : in) {
    if (static_cast<unsigned char>(c) == 0xFF) {
      frames.emplace_back();
    } else {
      frames.back().push_back(c);
    }
  }
  (void)district::from_frames(frames);

  (void)https::parse_retry_after(in, 1764379200000);
  const std::string ex = https::excerpt(in, size % 300);
  // `max` bytes of the body, and "..." after them when it was cut.
  if (ex.size() > size % 300 + 3) __builtin_trap();
  https::HttpOutcome outcome;
  outcome.status = size > 0 ? 100 + data[0] * 2 : 200;
  outcome.body = std::string(in);
  outcome.batch_id = "gw-fuzz-district-1-2";
  (void)https::classify(outcome);
  return 0;
}
