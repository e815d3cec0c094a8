#pragma once
// The gateway's end of the ZeroMQ district link: a DEALER socket with CURVE, the platform's key
// pinned. It tells the rest of the gateway whether the platform answers heartbeats (LinkHealth),
// carries online authorization requests with a deadline (OnlineAuthClient) and forwards record
// batches to the district platform (UpstreamLink, destination "district"). cppzmq stays behind
// this header: nothing here includes it.
//
// One I/O thread owns the socket, because ZeroMQ sockets must not be shared between threads.
// Callers hand requests and batches over through a queue and wake the thread; the thread
// enforces every deadline and runs every callback. Batches share the connection with the
// heartbeats on purpose: a batch is only sent while heartbeats say the platform answers, and a
// platform that stops answering fails the batches in flight at once instead of at their
// timeouts.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "connectors/zmq/curve_keys.h"
#include "gateway/config/config.h"
#include "gateway/interfaces/clock.h"
#include "gateway/interfaces/district_link.h"
#include "gateway/interfaces/upstream_link.h"

namespace spdlog {
class logger;
}

namespace yktgw::district {

struct DistrictLinkOptions {
  std::string endpoint;           // tcp://host:port of the platform; empty: no district link
  std::string server_public_key;  // Z85; the only server key the link accepts
  CurveKeyPair client_keys;
  std::string gateway_id;  // named in heartbeats
  std::chrono::milliseconds heartbeat_interval{1000};
  std::chrono::milliseconds heartbeat_timeout{3500};  // up while an answer came within this
  int max_inflight = 1000;  // online requests waiting for an answer, queued ones included
  // Reconnects start fast (a platform restart costs the gateway little) and back off to the
  // maximum so hundreds of boxes do not hammer a platform that is down.
  std::chrono::milliseconds reconnect_interval{100};
  std::chrono::milliseconds reconnect_interval_max{5000};
  // Least time between repeats of a warning the platform can trigger (log.warn_interval_ms).
  std::chrono::milliseconds warn_interval{10000};
  // Record batches awaiting BATCH_ACK at once (district.batch_max_inflight): the forwarder's
  // window for this destination.
  int batch_max_inflight = 8;
  // A batch not acked by then ends retry_later (district.batch_timeout_ms); a later ack is
  // ignored, the forwarder sends the batch again under the same id and the platform drops the
  // repeats.
  std::chrono::milliseconds batch_timeout{10000};
};

// From the [district] section: reads and checks the client key file. An empty endpoint gives
// options for a disabled link and does not look at the keys. The lead's wiring:
//   auto o = district_link_options(config.district, config.gateway.id);
//   auto link = DistrictLink::start(std::move(*o), clock, logger);
//   if ((*link)->enabled()) links["district"] = link->get();  // the Forwarder's UpstreamLink
Result<DistrictLinkOptions> district_link_options(const DistrictConfig& config,
                                                  const std::string& gateway_id);

class DistrictLink final : public LinkHealth, public OnlineAuthClient, public UpstreamLink {
 public:
  // Checks the options, sets the socket up and starts the I/O thread; connecting happens in
  // the background and never fails start(). `clock` must outlive the link.
  static Result<std::unique_ptr<DistrictLink>> start(DistrictLinkOptions options,
                                                     const Clock& clock,
                                                     std::shared_ptr<spdlog::logger> log);
  ~DistrictLink() override;
  DistrictLink(const DistrictLink&) = delete;
  DistrictLink& operator=(const DistrictLink&) = delete;

  // Stops the I/O thread; every request still waiting gets its callback (link_down) before this
  // returns. Idempotent; the destructor calls it.
  void stop();

  // False when no endpoint is configured: then up() is always false.
  bool enabled() const;

  bool up() const override;
  std::int64_t last_heartbeat_ms() const override;

  // Callbacks run on the link's I/O thread and must only hand work on. They run inline, on the
  // caller's thread, when the link is known to be down (link_down) or when max_inflight
  // requests are already waiting (error).
  void authorize(OnlineAuthRequest request, std::chrono::milliseconds deadline,
                 Callback done) override;

  // ---- record forwarding (UpstreamLink; docs/upstream-protocol.md §4.6) ----
  // "district".
  const std::string& destination() const override;
  // Sends BATCH (message id = batch id) and returns at once. `done` runs exactly once on the
  // I/O thread: delivered on BATCH_ACK; rejected on ERROR invalid_batch (or a batch id the
  // protocol cannot carry); retry_later on any other ERROR, no ack within batch_timeout, the
  // link down when the batch is taken up or going down while it waits, a send ZeroMQ would have
  // to block for, or stop(). Answered at once on the caller's thread instead: retry_later from a
  // disabled or stopped link (no I/O thread is left to answer), rejected for a batch id the
  // protocol cannot carry (empty or over 255 bytes; it would fail the same way every time).
  void send(const Batch& batch, Done done) override;
  // batch_max_inflight.
  int max_in_flight() const override;

  struct Stats {
    bool enabled = false;
    bool up = false;
    bool connected = false;  // a CURVE session is established right now
    std::int64_t last_heartbeat_ms = 0;
    std::int64_t heartbeat_rtt_us = 0;  // of the last answered heartbeat
    std::uint64_t heartbeats_sent = 0;
    std::uint64_t heartbeats_answered = 0;
    std::uint64_t auth_requests = 0;  // every authorize() call
    std::uint64_t auth_answered = 0;
    std::uint64_t auth_timeouts = 0;
    std::uint64_t auth_link_down = 0;
    std::uint64_t auth_errors = 0;   // platform ERROR or a malformed answer
    std::uint64_t auth_busy = 0;     // refused inline: max_inflight reached
    std::uint64_t late_answers = 0;  // answers after their deadline, dropped
    std::uint64_t bad_messages = 0;  // malformed or unexpected messages from the platform
    std::uint64_t handshake_failures = 0;
    std::uint64_t disconnects = 0;
    std::int64_t inflight = 0;
    std::uint64_t batches_sent = 0;       // BATCH messages handed to ZeroMQ
    std::uint64_t batches_delivered = 0;  // acked
    std::uint64_t batches_rejected = 0;   // ERROR invalid_batch
    std::uint64_t batches_retry = 0;      // every retry_later, timeouts included
    std::uint64_t batch_timeouts = 0;
    std::uint64_t late_batch_acks = 0;  // acks for no batch in flight (after a timeout), ignored
    std::int64_t batches_inflight = 0;  // queued or awaiting an ack
  };
  Stats stats() const;

 private:
  struct Impl;
  explicit DistrictLink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace yktgw::district
