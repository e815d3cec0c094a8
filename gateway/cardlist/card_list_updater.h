#pragma once
// Keeps the card list current from the platform's signed feed over HTTP(S) (libcurl), on a
// background thread. Protocol (docs/cardlist-feed.md):
//   GET {feed_url}/cardlist/delta?from=<version>  200: one delta; 204: up to date;
//                                                  409: the platform wants us to take a snapshot
//   GET {feed_url}/cardlist/snapshot              200: the whole list
// Every feed is verified with the platform's SM2 key before the cache sees it; whatever is
// refused or fails, the list in use keeps serving and the next poll tries again.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "gateway/cardlist/card_list_cache.h"
#include "gateway/core/result.h"
#include "gateway/crypto/sm2.h"
#include "gateway/interfaces/clock.h"

namespace spdlog {
class logger;
}

namespace yktgw {

struct CardListUpdaterOptions {
  std::string feed_url;  // config cardlist.feed_url: http(s)://host[:port][/path], no query
  std::string ca_file;   // config cardlist.ca_file: when set, the only CA trusted for HTTPS
  std::chrono::milliseconds poll_interval{60'000};  // config cardlist.poll_interval_s
  std::chrono::milliseconds connect_timeout{3'000};
  std::chrono::milliseconds request_timeout{30'000};  // deltas and 204/409 answers
  // A province's snapshot is about 1.1 GiB (38 bytes an entry); it gets longer than a delta.
  std::chrono::milliseconds snapshot_timeout{600'000};  // config cardlist.snapshot_timeout_s
  std::uint64_t max_feed_bytes = 2ull << 30;            // bigger answers are cut off and refused
  int max_feeds_per_poll = 1000;                        // the rest waits for the next poll
};

struct CardListUpdaterStats {
  std::int64_t last_poll_ms = 0;     // gateway wall time of the last poll
  std::int64_t last_success_ms = 0;  // the last poll that ended with the list up to date
  std::uint64_t polls = 0;
  std::uint64_t failed_polls = 0;  // transport errors, HTTP errors and refused feeds
  std::uint64_t feeds_applied = 0;
  std::uint64_t feeds_refused = 0;  // bad signature, malformed, version gap, stale snapshot
  std::string last_error;           // empty after a successful poll
};

class CardListUpdater {
 public:
  CardListUpdater(CardListCache& cache, Sm2PublicKey platform_key, CardListUpdaterOptions options,
                  const Clock& clock, std::shared_ptr<spdlog::logger> log);
  ~CardListUpdater();
  CardListUpdater(const CardListUpdater&) = delete;
  CardListUpdater& operator=(const CardListUpdater&) = delete;

  // Polls at once, then every poll_interval, until stop().
  void start();
  void stop();

  // One round: deltas until the platform answers 204; a snapshot when it answers 409, when
  // the list has no platform version yet, or after a delta that does not fit the version in
  // use. Returns how many feeds were applied; the first refusal or failure ends the round.
  Result<int> poll_once();

  CardListUpdaterStats stats() const;

 private:
  Result<int> round();

  CardListCache& cache_;
  const Sm2PublicKey key_;
  const CardListUpdaterOptions options_;
  const Clock& clock_;
  std::shared_ptr<spdlog::logger> log_;

  std::mutex poll_mu_;  // one round at a time
  mutable std::mutex stats_mu_;
  CardListUpdaterStats stats_;

  std::mutex thread_mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace yktgw
