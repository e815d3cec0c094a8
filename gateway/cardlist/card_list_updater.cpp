#include "gateway/cardlist/card_list_updater.h"

#include <curl/curl.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <mutex>

#include "gateway/cardlist/feed_format.h"

namespace yktgw {
namespace {

struct HttpReply {
  long status = 0;
  std::string body;
};

struct Sink {
  std::string* body;
  std::uint64_t limit;
  bool too_big = false;
};

std::size_t on_data(char* data, std::size_t size, std::size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const std::size_t n = size * count;
  if (sink->body->size() + n > sink->limit) {
    sink->too_big = true;
    return 0;  // makes curl stop with CURLE_WRITE_ERROR
  }
  try {
    sink->body->append(data, n);
  } catch (const std::bad_alloc&) {
    sink->too_big = true;
    return 0;
  }
  return n;
}

class CurlHandle {
 public:
  CurlHandle() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    h_ = curl_easy_init();
  }
  ~CurlHandle() { curl_easy_cleanup(h_); }
  CurlHandle(const CurlHandle&) = delete;
  CurlHandle& operator=(const CurlHandle&) = delete;

  Result<HttpReply> get(const std::string& url, const CardListUpdaterOptions& o,
                        std::chrono::milliseconds timeout) {
    if (h_ == nullptr) return make_error("http", "curl_easy_init failed");
    HttpReply reply;
    Sink sink{&reply.body, o.max_feed_bytes};
    char error[CURL_ERROR_SIZE] = {0};
    curl_easy_reset(h_);
    curl_easy_setopt(h_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h_, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h_, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h_, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM in a threaded daemon
    curl_easy_setopt(h_, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout.count()));
    curl_easy_setopt(h_, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(h_, CURLOPT_USERAGENT, "yktgw-cardlist/1");
    curl_easy_setopt(h_, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h_, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!o.ca_file.empty()) {
      // Pinned: the platform's CA and nothing from the system store.
      curl_easy_setopt(h_, CURLOPT_CAINFO, o.ca_file.c_str());
      curl_easy_setopt(h_, CURLOPT_CAPATH, nullptr);
    }
    curl_easy_setopt(h_, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(o.max_feed_bytes));
    curl_easy_setopt(h_, CURLOPT_WRITEFUNCTION, &on_data);
    curl_easy_setopt(h_, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(h_, CURLOPT_ERRORBUFFER, error);
    const CURLcode rc = curl_easy_perform(h_);
    curl_easy_setopt(h_, CURLOPT_ERRORBUFFER, nullptr);
    if (sink.too_big || rc == CURLE_FILESIZE_EXCEEDED) {
      return make_error("feed_too_large", url + ": answer larger than " +
                                              std::to_string(o.max_feed_bytes) + " bytes");
    }
    if (rc != CURLE_OK) {
      return make_error("http", url + ": " + (error[0] != 0 ? error : curl_easy_strerror(rc)));
    }
    curl_easy_getinfo(h_, CURLINFO_RESPONSE_CODE, &reply.status);
    return reply;
  }

 private:
  CURL* h_ = nullptr;
};

std::string base_of(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

}  // namespace

CardListUpdater::CardListUpdater(CardListCache& cache, Sm2PublicKey platform_key,
                                 CardListUpdaterOptions options, const Clock& clock,
                                 std::shared_ptr<spdlog::logger> log)
    : cache_(cache),
      key_(std::move(platform_key)),
      options_(std::move(options)),
      clock_(clock),
      log_(log ? std::move(log)
               : std::make_shared<spdlog::logger>(
                     "cardlist", std::make_shared<spdlog::sinks::null_sink_mt>())) {}

CardListUpdater::~CardListUpdater() { stop(); }

void CardListUpdater::start() {
  std::lock_guard lock(thread_mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] {
    std::unique_lock lock(thread_mu_);
    while (!stopping_) {
      lock.unlock();
      (void)poll_once();  // logged and counted inside
      lock.lock();
      wake_.wait_for(lock, options_.poll_interval, [this] { return stopping_; });
    }
  });
}

void CardListUpdater::stop() {
  std::thread t;
  {
    std::lock_guard lock(thread_mu_);
    stopping_ = true;
    t = std::move(thread_);
  }
  wake_.notify_all();
  if (t.joinable()) t.join();
}

CardListUpdaterStats CardListUpdater::stats() const {
  std::lock_guard lock(stats_mu_);
  return stats_;
}

Result<int> CardListUpdater::poll_once() {
  std::lock_guard lock(poll_mu_);
  const std::int64_t now = clock_.wall_ms();
  {
    std::lock_guard s(stats_mu_);
    stats_.last_poll_ms = now;
    ++stats_.polls;
  }
  auto r = round();
  std::lock_guard s(stats_mu_);
  if (r) {
    stats_.last_success_ms = clock_.wall_ms();
    stats_.last_error.clear();
  } else {
    ++stats_.failed_polls;
    stats_.last_error = r.error().code + ": " + r.error().message;
    // At most one line per poll interval, however the platform misbehaves.
    log_->warn("card list poll failed code={} error=\"{}\"; version {} stays in use",
               r.error().code, r.error().message, cache_.version());
  }
  return r;
}

Result<int> CardListUpdater::round() {
  CurlHandle http;
  const std::string base = base_of(options_.feed_url);
  int applied = 0;
  bool want_snapshot = !cache_.status(clock_.wall_ms()).from_feed;
  bool tried_snapshot = false;

  auto count_refused = [&] {
    std::lock_guard s(stats_mu_);
    ++stats_.feeds_refused;
  };
  // Decodes and applies one answer body; a refusal is counted and ends the round.
  auto take = [&](const std::string& body, FeedKind expected) -> Result<void> {
    auto feed = decode_feed(body, key_);
    if (!feed) {
      count_refused();
      return feed.error();
    }
    if (feed->header.kind != expected) {
      count_refused();
      return make_error("feed_malformed", "card list feed refused: expected a " +
                                              std::string(to_string(expected)) + ", got a " +
                                              std::string(to_string(feed->header.kind)));
    }
    if (auto r = cache_.apply(*feed); !r) {
      if (r.error().code.starts_with("feed_")) count_refused();
      return r.error();
    }
    ++applied;
    std::lock_guard s(stats_mu_);
    ++stats_.feeds_applied;
    return {};
  };

  Result<void> outcome;
  bool current = false;
  for (int n = 0; n < options_.max_feeds_per_poll && outcome && !current; ++n) {
    if (want_snapshot) {
      if (tried_snapshot) {
        outcome = make_error("feed_version_gap",
                             "the platform's deltas do not follow the snapshot it sent");
        break;
      }
      tried_snapshot = true;
      auto reply = http.get(base + "/cardlist/snapshot", options_, options_.snapshot_timeout);
      if (!reply) {
        outcome = reply.error();
      } else if (reply->status != 200) {
        outcome = make_error("http", "snapshot: HTTP " + std::to_string(reply->status));
      } else {
        outcome = take(reply->body, FeedKind::snapshot);
        want_snapshot = false;
      }
      continue;
    }
    const std::string url = base + "/cardlist/delta?from=" + std::to_string(cache_.version());
    auto reply = http.get(url, options_, options_.request_timeout);
    if (!reply) {
      outcome = reply.error();
    } else if (reply->status == 204) {
      current = true;
    } else if (reply->status == 409) {
      want_snapshot = true;
    } else if (reply->status != 200) {
      outcome = make_error("http", "delta: HTTP " + std::to_string(reply->status));
    } else if (auto r = take(reply->body, FeedKind::delta); !r) {
      // A delta that does not fit: the snapshot puts the list back on the platform's line.
      if (r.error().code == "feed_version_gap" && !tried_snapshot) {
        log_->warn("card list delta refused error=\"{}\"; asking for a snapshot",
                   r.error().message);
        want_snapshot = true;
      } else {
        outcome = r;
      }
    }
  }
  if (applied > 0) (void)cache_.save_image();  // logged inside; only a restart is slower
  if (!outcome) return outcome.error();
  if (current) {
    if (auto r = cache_.mark_checked(clock_.wall_ms()); !r) return r.error();
  }
  return applied;
}

}  // namespace yktgw
