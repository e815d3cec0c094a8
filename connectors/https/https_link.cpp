#include "connectors/https/https_link.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <chrono>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "connectors/https/http_outcome.h"
#include "gateway/core/log_throttle.h"
#include "gateway/core/version.h"

namespace yktgw::https {
namespace {

constexpr std::size_t kBodyKeep = 4096;  // enough for any error message worth logging

std::once_flag g_curl_init;
CURLcode g_curl_init_rc = CURLE_OK;

bool readable(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return in.good();
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

TransportError transport_error_of(CURLcode code, std::string_view errbuf) {
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return TransportError::timeout;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return TransportError::connect;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_USE_SSL_FAILED:
      return TransportError::tls;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
      // With TLS 1.3 a server that refuses the client certificate says so in an alert after
      // the client thinks the handshake is over; it shows up as a failed read.
      if (contains(errbuf, "alert") || contains(errbuf, "certificate")) return TransportError::tls;
      return TransportError::other;
    default:
      return TransportError::other;
  }
}

// A connection made for this transfer that the peer closed before any of the body went out.
bool dropped_after_handshake(CURL* easy, CURLcode code) {
  if (code != CURLE_SEND_ERROR && code != CURLE_RECV_ERROR && code != CURLE_GOT_NOTHING) {
    return false;
  }
  long connects = 0;
  curl_off_t uploaded = 0;
  curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects);
  curl_easy_getinfo(easy, CURLINFO_SIZE_UPLOAD_T, &uploaded);
  return connects > 0 && uploaded == 0;
}

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

HttpsLinkOptions https_link_options_from(const Config& config) {
  HttpsLinkOptions o;
  o.url = config.https.url;
  o.gateway_id = config.gateway.id;
  o.ca_file = config.https.ca_file;
  o.client_cert_file = config.https.client_cert_file;
  o.client_key_file = config.https.client_key_file;
  o.connect_timeout_ms = config.https.connect_timeout_ms;
  o.timeout_ms = config.https.timeout_ms;
  o.max_in_flight = config.https.max_in_flight;
  o.warn_interval_ms = config.log.warn_interval_ms;
  return o;
}

struct HttpsLink::Impl {
  struct Pending {
    Batch batch;
    Done done;
  };
  struct Slot {
    CURL* easy = nullptr;
    curl_slist* headers = nullptr;
    std::optional<Pending> pending;
    std::string body;
    std::string retry_after;
    std::array<char, CURL_ERROR_SIZE> errbuf{};
  };

  HttpsLinkOptions options;
  std::shared_ptr<spdlog::logger> log;
  std::string endpoint;  // url + "/batches"
  CURLM* multi = nullptr;
  std::vector<std::unique_ptr<Slot>> slots;

  std::mutex mu;
  std::deque<Pending> queue;  // from send(), taken by the I/O thread
  bool stopping = false;
  bool stopped = false;
  std::thread thread;

  // I/O thread only.
  std::deque<Pending> waiting;
  LogThrottle throttle{std::chrono::milliseconds(10'000)};

  mutable std::mutex stats_mu;
  HttpsLinkStats stats;

  ~Impl() {
    for (auto& s : slots) {
      if (s->easy) curl_easy_cleanup(s->easy);
      if (s->headers) curl_slist_free_all(s->headers);
    }
    if (multi) curl_multi_cleanup(multi);
  }

  static std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
    auto* slot = static_cast<Slot*>(user);
    const std::size_t bytes = size * n;
    if (slot->body.size() < kBodyKeep) {
      slot->body.append(data, std::min(bytes, kBodyKeep - slot->body.size()));
    }
    return bytes;  // the rest is read and dropped; the connection stays usable
  }

  static std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
    auto* slot = static_cast<Slot*>(user);
    const std::size_t bytes = size * n;
    std::string_view line(data, bytes);
    constexpr std::string_view kName = "retry-after:";
    if (line.size() > kName.size()) {
      bool match = true;
      for (std::size_t i = 0; i < kName.size() && match; ++i) {
        match = static_cast<char>(std::tolower(static_cast<unsigned char>(line[i]))) == kName[i];
      }
      if (match) slot->retry_after = std::string(line.substr(kName.size()));
    }
    return bytes;
  }

  Result<void> init() {
    multi = curl_multi_init();
    if (!multi) return make_error("https_init", "curl_multi_init failed");
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                      static_cast<long>(options.max_in_flight));
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(options.max_in_flight));
    curl_multi_setopt(multi, CURLMOPT_PIPELINING, static_cast<long>(CURLPIPE_NOTHING));
    const std::string agent = std::string("yktgw/") + kVersion;
    for (int i = 0; i < options.max_in_flight; ++i) {
      auto slot = std::make_unique<Slot>();
      CURL* e = curl_easy_init();
      if (!e) return make_error("https_init", "curl_easy_init failed");
      slot->easy = e;
      bool ok = true;
      auto set = [&](CURLoption opt, auto value) {
        if (curl_easy_setopt(e, opt, value) != CURLE_OK) ok = false;
      };
      set(CURLOPT_URL, endpoint.c_str());
      set(CURLOPT_POST, 1L);
      set(CURLOPT_NOSIGNAL, 1L);
      set(CURLOPT_PROTOCOLS_STR, "https");
      set(CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
      set(CURLOPT_FOLLOWLOCATION, 0L);
      // Pinned: only this CA, not the system store (CAPATH would add /etc/ssl/certs).
      set(CURLOPT_CAINFO, options.ca_file.c_str());
      set(CURLOPT_CAPATH, static_cast<const char*>(nullptr));
      set(CURLOPT_SSL_VERIFYPEER, 1L);
      set(CURLOPT_SSL_VERIFYHOST, 2L);
      if (!options.client_cert_file.empty()) {
        set(CURLOPT_SSLCERT, options.client_cert_file.c_str());
        set(CURLOPT_SSLCERTTYPE, "PEM");
        set(CURLOPT_SSLKEY, options.client_key_file.c_str());
        set(CURLOPT_SSLKEYTYPE, "PEM");
      }
      set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout_ms));
      set(CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout_ms));
      set(CURLOPT_TCP_KEEPALIVE, 1L);
      set(CURLOPT_TCP_NODELAY, 1L);
      set(CURLOPT_USERAGENT, agent.c_str());
      set(CURLOPT_WRITEFUNCTION, &Impl::on_body);
      set(CURLOPT_WRITEDATA, static_cast<void*>(slot.get()));
      set(CURLOPT_HEADERFUNCTION, &Impl::on_header);
      set(CURLOPT_HEADERDATA, static_cast<void*>(slot.get()));
      set(CURLOPT_ERRORBUFFER, slot->errbuf.data());
      set(CURLOPT_PRIVATE, static_cast<void*>(slot.get()));
      if (!ok) return make_error("https_init", "libcurl refused an option (built without TLS?)");
      slots.push_back(std::move(slot));
    }
    return {};
  }

  void count(DeliveryStatus s, bool tls) {
    std::lock_guard lock(stats_mu);
    switch (s) {
      case DeliveryStatus::delivered:
        ++stats.delivered;
        break;
      case DeliveryStatus::retry_later:
        ++stats.retry_later;
        break;
      case DeliveryStatus::rejected:
        ++stats.rejected;
        break;
    }
    if (tls) ++stats.tls_failures;
  }

  bool start(Slot& slot, Pending p) {
    const std::string& id = p.batch.id;
    if (id.empty() || id.find_first_of("\r\n") != std::string::npos) {
      count(DeliveryStatus::rejected, false);
      p.done(DeliveryResult{DeliveryStatus::rejected, "batch id is empty or not a header value"});
      return false;
    }
    slot.body.clear();
    slot.retry_after.clear();
    slot.errbuf[0] = '\0';
    curl_slist* h = nullptr;
    for (const std::string& line :
         {std::string("Content-Type: application/x-ndjson"), std::string("Content-Encoding: gzip"),
          "Idempotency-Key: " + id, "X-Gateway-Id: " + options.gateway_id,
          // No "Expect: 100-continue" round trip before each body.
          std::string("Expect:")}) {
      curl_slist* next = curl_slist_append(h, line.c_str());
      if (!next) {
        curl_slist_free_all(h);
        count(DeliveryStatus::retry_later, false);
        p.done(DeliveryResult{DeliveryStatus::retry_later, "out of memory building headers"});
        return false;
      }
      h = next;
    }
    slot.headers = h;
    curl_easy_setopt(slot.easy, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(slot.easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(p.batch.payload.size()));
    slot.pending = std::move(p);
    curl_easy_setopt(slot.easy, CURLOPT_POSTFIELDS, slot.pending->batch.payload.data());
    if (curl_multi_add_handle(multi, slot.easy) != CURLM_OK) {
      Pending back = std::move(*slot.pending);
      slot.pending.reset();
      curl_slist_free_all(slot.headers);
      slot.headers = nullptr;
      count(DeliveryStatus::retry_later, false);
      back.done(DeliveryResult{DeliveryStatus::retry_later, "curl_multi_add_handle failed"});
      return false;
    }
    std::lock_guard lock(stats_mu);
    ++stats.sent;
    return true;
  }

  void finish(Slot& slot, CURLcode code) {
    curl_multi_remove_handle(multi, slot.easy);
    curl_slist_free_all(slot.headers);
    slot.headers = nullptr;
    Pending p = std::move(*slot.pending);
    slot.pending.reset();

    HttpOutcome o;
    o.batch_id = p.batch.id;
    if (code != CURLE_OK) {
      const std::string_view errbuf(slot.errbuf.data());
      o.transport = transport_error_of(code, errbuf);
      o.transport_detail = curl_easy_strerror(code);
      if (!errbuf.empty()) o.transport_detail += ": " + std::string(errbuf);
      if (o.transport == TransportError::other && dropped_after_handshake(slot.easy, code)) {
        // With TLS 1.3 a server that refuses the client certificate may just close the
        // connection after the handshake, before the request gets out; name the likely cause.
        o.transport = TransportError::tls;
        o.transport_detail +=
            " (the platform closed a new connection right after the TLS handshake, before the "
            "request went out: client certificate refused or expired?)";
      }
    } else {
      long status = 0;
      curl_easy_getinfo(slot.easy, CURLINFO_RESPONSE_CODE, &status);
      o.status = status;
      o.body = std::move(slot.body);
      if (!slot.retry_after.empty())
        o.retry_after_ms = parse_retry_after(slot.retry_after, wall_ms());
    }
    DeliveryResult result = classify(o);
    const bool tls = o.transport == TransportError::tls;
    count(result.status, tls);
    std::uint64_t held = 0;
    if (tls && throttle.allow(to_string(o.transport), std::chrono::steady_clock::now(), held)) {
      log->error(
          "https destination={} url={} TLS failure: {}; check https.ca_file, the platform's "
          "certificate and the client certificate; records are kept{}",
          options.destination, endpoint, o.transport_detail,
          held ? " (" + std::to_string(held) + " similar not logged)" : std::string());
    } else if (o.transport != TransportError::none &&
               throttle.allow(to_string(o.transport), std::chrono::steady_clock::now(), held)) {
      log->warn("https destination={} url={} {}: {}; records are kept{}", options.destination,
                endpoint, to_string(o.transport), o.transport_detail,
                held ? " (" + std::to_string(held) + " similar not logged)" : std::string());
    } else if (result.status == DeliveryStatus::rejected) {
      log->error("https destination={} batch={} rejected: {}", options.destination, p.batch.id,
                 result.detail);
    }
    p.done(std::move(result));
  }

  void fail_all(const std::string& why) {
    for (auto& s : slots) {
      if (!s->pending) continue;
      curl_multi_remove_handle(multi, s->easy);
      curl_slist_free_all(s->headers);
      s->headers = nullptr;
      Pending p = std::move(*s->pending);
      s->pending.reset();
      count(DeliveryStatus::retry_later, false);
      p.done(DeliveryResult{DeliveryStatus::retry_later, why});
    }
    for (Pending& p : waiting) {
      count(DeliveryStatus::retry_later, false);
      p.done(DeliveryResult{DeliveryStatus::retry_later, why});
    }
    waiting.clear();
  }

  void run() {
    for (;;) {
      {
        std::lock_guard lock(mu);
        for (Pending& p : queue) waiting.push_back(std::move(p));
        queue.clear();
        if (stopping) break;
      }
      for (auto& s : slots) {
        while (!s->pending && !waiting.empty()) {
          Pending p = std::move(waiting.front());
          waiting.pop_front();
          start(*s, std::move(p));
        }
      }
      int running = 0;
      curl_multi_perform(multi, &running);
      int left = 0;
      bool freed = false;
      while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
        if (msg->msg != CURLMSG_DONE) continue;
        void* priv = nullptr;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        // Read the code before finish(): removing the handle invalidates `msg`.
        const CURLcode code = msg->data.result;
        finish(*static_cast<Slot*>(priv), code);
        freed = true;
      }
      if (freed && !waiting.empty()) continue;
      curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
    }
    fail_all("link stopped");
  }
};

HttpsLink::HttpsLink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<HttpsLink>> HttpsLink::create(HttpsLinkOptions options,
                                                     std::shared_ptr<spdlog::logger> log) {
  if (!log) log = spdlog::default_logger();
  if (!options.url.starts_with("https://")) {
    return make_error("https_config",
                      "https.url must start with https:// (got '" + options.url + "')");
  }
  if (options.ca_file.empty() || !readable(options.ca_file)) {
    return make_error("https_config", "https.ca_file '" + options.ca_file + "' is not readable");
  }
  if (options.client_cert_file.empty() != options.client_key_file.empty()) {
    return make_error("https_config",
                      "https.client_cert_file and https.client_key_file go together");
  }
  for (const std::string* f : {&options.client_cert_file, &options.client_key_file}) {
    if (!f->empty() && !readable(*f)) {
      return make_error("https_config", "'" + *f + "' is not readable");
    }
  }
  if (options.gateway_id.empty()) return make_error("https_config", "gateway id is empty");
  if (options.max_in_flight < 1) options.max_in_flight = 1;

  std::call_once(g_curl_init, [] { g_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (g_curl_init_rc != CURLE_OK) {
    return make_error("https_init", std::string("curl_global_init failed: ") +
                                        curl_easy_strerror(g_curl_init_rc));
  }

  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->log = std::move(log);
  impl->throttle.set_interval(std::chrono::milliseconds(impl->options.warn_interval_ms));
  std::string base = impl->options.url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  impl->endpoint = base + "/batches";
  if (auto r = impl->init(); !r) return r.error();
  Impl* raw = impl.get();
  raw->thread = std::thread([raw] { raw->run(); });
  raw->log->info("https destination={} url={} max_in_flight={} mtls={}", raw->options.destination,
                 raw->endpoint, raw->options.max_in_flight,
                 raw->options.client_cert_file.empty() ? "no" : "yes");
  return std::unique_ptr<HttpsLink>(new HttpsLink(std::move(impl)));
}

HttpsLink::~HttpsLink() { stop(); }

const std::string& HttpsLink::destination() const { return impl_->options.destination; }

int HttpsLink::max_in_flight() const { return impl_->options.max_in_flight; }

void HttpsLink::send(const Batch& batch, Done done) {
  {
    std::lock_guard lock(impl_->mu);
    if (!impl_->stopping) {
      impl_->queue.push_back(Impl::Pending{batch, std::move(done)});
      done = nullptr;
    }
  }
  if (done) {
    done(DeliveryResult{DeliveryStatus::retry_later, "link stopped"});
    return;
  }
  curl_multi_wakeup(impl_->multi);
}

void HttpsLink::stop() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopped) return;
    impl_->stopping = true;
    impl_->stopped = true;
  }
  curl_multi_wakeup(impl_->multi);
  if (impl_->thread.joinable()) impl_->thread.join();
}

HttpsLinkStats HttpsLink::stats() const {
  std::lock_guard lock(impl_->stats_mu);
  return impl_->stats;
}

}  // namespace yktgw::https
