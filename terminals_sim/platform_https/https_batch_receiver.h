#pragma once
// The platform side of the HTTPS cross-province link, for ykt-platform-sim and the tests: a
// cpp-httplib SSLServer (optionally requiring a client certificate) that takes POST /batches,
// stores the records through ReceivedStore (deduplicated by txn_id) and acks with
//   200 {"batch_id": "...", "accepted": n, "duplicates": m}
// or 400 for a malformed batch. Fault modes make it a useful peer for retry tests: slow acks,
// dropped acks (stored, then the connection closes without an answer), 500s, 429s, 400s and a
// down/up schedule.
//
// Threads: cpp-httplib's worker pool runs the handlers (the store is behind a mutex); one more
// thread runs the down/up schedule when one is set.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/core/result.h"

namespace spdlog {
class logger;
}

namespace yktgw::platform {

// "down 10s every 30s": in every 30 s period the server is up for the first 20 s and down
// (listener closed, open connections dropped) for the last 10 s. Units: ms, s, m.
struct DownSchedule {
  std::chrono::milliseconds down{0};
  std::chrono::milliseconds every{0};
  bool active() const { return down.count() > 0 && every > down; }
  // Whether the platform is down `since_start` after the schedule began.
  bool down_at(std::chrono::milliseconds since_start) const {
    return active() && since_start % every >= every - down;
  }
  bool operator==(const DownSchedule&) const = default;
};
// Empty text: no schedule. Error "bad_schedule".
Result<DownSchedule> parse_down_schedule(std::string_view text);

// Also what ykt-platform-sim injects on the ZeroMQ side (terminals_sim/platform/
// district_batches.h), so one set of flags drives both transports.
struct ReceiverFaults {
  int ack_delay_ms = 0;              // answer every accepted batch this much later
  double drop_ack_probability = 0;   // store the batch, then close without answering
  double error_500_probability = 0;  // answer 500 without storing
  double error_429_probability = 0;  // answer 429 with Retry-After without storing
  int retry_after_s = 1;             // the Retry-After of those 429s
  double error_400_probability = 0;  // answer 400 without storing, as if the batch were invalid
  DownSchedule down;
  std::uint64_t seed = 0;  // 0: a random seed
};

struct HttpsReceiverOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port (see port())
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;  // set: clients must present a certificate from this CA (mTLS)
  std::string db_path;         // ReceivedStore file
  std::string platform = "crossprov";      // the name records are counted under
  std::size_t max_body_bytes = 64u << 20;  // compressed and inflated alike
  int threads = 16;
  int keep_alive_timeout_s = 5;
  ReceiverFaults faults;
};

struct ReceiverStats {
  std::uint64_t batches_accepted = 0;  // acked with 200 (or stored before a dropped ack)
  std::uint64_t records_accepted = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t malformed = 0;  // real 400s
  std::uint64_t injected_500 = 0;
  std::uint64_t injected_429 = 0;
  std::uint64_t injected_400 = 0;
  std::uint64_t dropped_acks = 0;
  bool operator==(const ReceiverStats&) const = default;
};

class HttpsBatchReceiver {
 public:
  // Opens the store, binds and starts serving. Errors: "tls" (certificate or key unusable),
  // "bind", and the store's own.
  static Result<std::unique_ptr<HttpsBatchReceiver>> start(HttpsReceiverOptions options,
                                                           std::shared_ptr<spdlog::logger> log);
  ~HttpsBatchReceiver();
  HttpsBatchReceiver(const HttpsBatchReceiver&) = delete;
  HttpsBatchReceiver& operator=(const HttpsBatchReceiver&) = delete;

  void stop();  // idempotent
  int port() const;
  bool up() const;
  // Takes the server down or brings it back by hand (tests); a schedule keeps running over it.
  Result<void> set_up(bool up);
  void set_faults(const ReceiverFaults& faults);  // the schedule is fixed at start
  ReceiverStats stats() const;

  struct Impl;

 private:
  explicit HttpsBatchReceiver(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace yktgw::platform
