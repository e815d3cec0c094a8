#pragma once
// The HTTPS cross-province link (docs/upstream-https.md). POSTs each batch to {url}/batches with
// the gzip body, Idempotency-Key: <batch id> and X-Gateway-Id; TLS with a pinned CA and an
// optional client certificate (mTLS). libcurl stays inside the .cpp.
//
// Threads: one I/O thread drives a libcurl multi handle with max_in_flight easy handles, reused
// so connections stay alive between batches. send() only queues and wakes that thread; every
// `done` runs on it (or, after stop(), at once on the caller's thread with retry_later).

#include <cstdint>
#include <memory>
#include <string>

#include "gateway/config/config.h"
#include "gateway/core/result.h"
#include "gateway/interfaces/upstream_link.h"

namespace spdlog {
class logger;
}

namespace yktgw::https {

struct HttpsLinkOptions {
  std::string destination = "crossprov";
  std::string url;  // https://host[:port][/path]; batches go to url + "/batches"
  std::string gateway_id;
  std::string ca_file;  // the only CA the platform's certificate may chain to
  std::string client_cert_file;
  std::string client_key_file;
  int connect_timeout_ms = 3'000;
  int timeout_ms = 10'000;
  int max_in_flight = 4;
  int warn_interval_ms = 10'000;  // transport warnings are logged at most this often per kind
};

// From https.* and gateway.id. The caller checks that https.url is set.
HttpsLinkOptions https_link_options_from(const Config& config);

struct HttpsLinkStats {
  std::uint64_t sent = 0;
  std::uint64_t delivered = 0;
  std::uint64_t retry_later = 0;
  std::uint64_t rejected = 0;
  std::uint64_t tls_failures = 0;  // handshakes or certificate checks that failed
  bool operator==(const HttpsLinkStats&) const = default;
};

class HttpsLink final : public UpstreamLink {
 public:
  // Checks the options (https URL, readable CA and client files) and starts the I/O thread.
  // Errors: "https_config" with the key at fault, "https_init" when libcurl cannot start.
  static Result<std::unique_ptr<HttpsLink>> create(HttpsLinkOptions options,
                                                   std::shared_ptr<spdlog::logger> log);
  ~HttpsLink() override;
  HttpsLink(const HttpsLink&) = delete;
  HttpsLink& operator=(const HttpsLink&) = delete;

  const std::string& destination() const override;
  void send(const Batch& batch, Done done) override;
  int max_in_flight() const override;

  // Ends the transfers under way and answers them, and anything queued, with retry_later.
  // Idempotent; the destructor calls it.
  void stop();

  HttpsLinkStats stats() const;

 private:
  struct Impl;
  explicit HttpsLink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace yktgw::https
