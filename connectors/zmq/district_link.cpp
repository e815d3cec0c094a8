#include "connectors/zmq/district_link.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cstring>
#include <iterator>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "connectors/zmq/district_protocol.h"
#include "gateway/core/log_throttle.h"

namespace yktgw::district {
namespace {

using Steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::min();

// The poll never sleeps longer than this, so stop() and a clock driven by a test are noticed
// even when no deadline or heartbeat is near.
constexpr milliseconds kMaxPollWait{50};

// Messages read per loop turn before deadlines and heartbeats get their turn again, so a flood
// of answers cannot delay a timeout callback.
constexpr int kMaxReceivesPerTurn = 512;

// Room above the in-flight limits in the socket queues for heartbeats and a few stragglers.
constexpr int kQueueHeadroom = 64;

// Answers are a few hundred bytes; a peer sending megabytes is broken or hostile, and libzmq
// drops such a connection instead of buffering it in the gateway's memory.
constexpr std::int64_t kMaxAnswerBytes = 1 << 20;

const char* const kWakeEndpoint = "inproc://district-wake";
const char* const kMonitorEndpoint = "inproc://district-monitor";

struct Submitted {
  OnlineAuthRequest request;
  Steady::time_point deadline;
  OnlineAuthClient::Callback done;
};

using DeadlineIndex = std::multimap<Steady::time_point, std::uint64_t>;

struct Pending {
  OnlineAuthClient::Callback done;
  DeadlineIndex::iterator by_deadline;
};

// A batch handed over by send(): the BATCH payload is built on the caller's thread, so the I/O
// thread only hands bytes to ZeroMQ.
struct SubmittedBatch {
  std::string id;
  std::string payload;
  UpstreamLink::Done done;
};

using BatchDeadlineIndex = std::multimap<Steady::time_point, std::string>;

struct PendingBatch {
  UpstreamLink::Done done;
  BatchDeadlineIndex::iterator by_deadline;
};

// The gateway's own message ids are decimal numbers; a batch's message id is its batch id,
// which always has letters and dashes in it. So an answer whose id is not a number answers a
// batch, even when that batch is no longer waiting.
bool is_batch_id(std::string_view id) {
  return id.find_first_not_of("0123456789") != std::string_view::npos;
}

std::int64_t to_ns(Steady::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

std::optional<std::uint64_t> parse_id(std::string_view s) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string_view event_name(std::uint16_t event) {
  switch (event) {
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
      return "no_detail";
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
      return "protocol";
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
      return "auth";
    default:
      return "other";
  }
}

}  // namespace

struct DistrictLink::Impl {
  Impl(DistrictLinkOptions o, const Clock& c, std::shared_ptr<spdlog::logger> l)
      : opt(std::move(o)), clock(c), log(std::move(l)), throttle(opt.warn_interval) {}

  DistrictLinkOptions opt;
  const Clock& clock;
  std::shared_ptr<spdlog::logger> log;
  bool enabled = false;

  // Declared before the sockets so it is destroyed after them: terminating a context waits for
  // its sockets to close. libzmq starts its I/O thread only with the first socket, so a
  // disabled link costs nothing here.
  zmq::context_t ctx;
  zmq::socket_t dealer;
  zmq::socket_t wake_rx;  // I/O thread
  zmq::socket_t wake_tx;  // callers, under submit_mu
  zmq::socket_t monitor;

  std::thread io;
  std::atomic<bool> stop_requested{false};

  std::mutex submit_mu;
  std::vector<Submitted> submitted;               // guarded by submit_mu
  std::vector<SubmittedBatch> submitted_batches;  // guarded by submit_mu
  bool wake_pending = false;                      // guarded by submit_mu
  bool closed = false;  // guarded by submit_mu: no I/O thread to answer any more

  std::atomic<std::int64_t> last_ack_steady_ns{kNever};
  std::atomic<std::int64_t> last_ack_wall_ms{0};
  std::atomic<std::int64_t> rtt_us{0};
  std::atomic<std::int64_t> inflight{0};
  std::atomic<bool> connected{false};
  std::atomic<std::uint64_t> heartbeats_sent{0}, heartbeats_answered{0}, auth_requests{0},
      auth_answered{0}, auth_timeouts{0}, auth_link_down{0}, auth_errors{0}, auth_busy{0},
      late_answers{0}, bad_messages{0}, handshake_failures{0}, disconnects{0};
  std::atomic<std::uint64_t> batches_sent{0}, batches_delivered{0}, batches_rejected{0},
      batches_retry{0}, batch_timeouts{0}, late_batch_acks{0};
  std::atomic<std::int64_t> batches_inflight{0};

  // Owned by the I/O thread.
  std::uint64_t next_id = 1;
  std::unordered_map<std::uint64_t, Pending> pending;
  DeadlineIndex deadlines;
  std::map<std::uint64_t, Steady::time_point> heartbeats_out;  // id -> sent; ids grow with time
  Steady::time_point next_heartbeat{};
  bool reported_up = false;
  bool session = false;           // a CURVE handshake succeeded and no disconnect since
  bool failure_reported = false;  // this connection's handshake failure is already counted
  int failures_in_row = 0;        // handshakes failed since the last one that succeeded
  std::optional<Steady::time_point> reconnect_at;  // set while paused after failed handshakes
  std::vector<Submitted> taking;
  std::unordered_map<std::string, PendingBatch> batches;  // by batch id
  BatchDeadlineIndex batch_deadlines;
  std::vector<SubmittedBatch> taking_batches;
  yktgw::LogThrottle throttle;

  Result<void> setup();
  void run();
  bool up_at(Steady::time_point now) const;

  bool wake_locked();
  void take_submitted(Steady::time_point now);
  void submit_one(Submitted&& s, Steady::time_point now);
  void submit_batch(SubmittedBatch&& b, Steady::time_point now);
  bool send(MessageType type, std::string_view id, std::string_view payload);
  bool handle_batch_answer(const Envelope& e);
  void finish_batch(const std::string& id, DeliveryResult result);
  void fail_all_batches(const std::string& detail);
  void expire_batches(Steady::time_point now);
  void invoke_batch(const UpstreamLink::Done& done, DeliveryResult result);
  void receive_all(Steady::time_point now);
  void handle(Envelope&& e, Steady::time_point now);
  void read_monitor();
  void handshake_failed(std::string_view why);
  void reconnect_if_due(Steady::time_point now);
  void expire(Steady::time_point now);
  void send_heartbeat(Steady::time_point now);
  void track_health(Steady::time_point now);
  void complete(std::uint64_t id, OnlineOutcome outcome, const OnlineAuthReply& reply);
  void fail_all_pending(OnlineOutcome outcome);
  void shutdown();
  void count(OnlineOutcome outcome);
  void invoke(const OnlineAuthClient::Callback& done, OnlineOutcome outcome,
              const OnlineAuthReply& reply);

  template <typename... Args>
  void warn_throttled(std::string_view key, spdlog::format_string_t<Args...> fmt, Args&&... args) {
    std::uint64_t held = 0;
    if (!throttle.allow(key, Steady::now(), held)) return;
    log->warn(fmt, std::forward<Args>(args)...);
    if (held > 0) log->warn("district link: {} similar warnings held back key={}", held, key);
  }
};

// ---- options ---------------------------------------------------------------------------------

Result<DistrictLinkOptions> district_link_options(const DistrictConfig& config,
                                                  const std::string& gateway_id) {
  DistrictLinkOptions o;
  o.endpoint = config.endpoint;
  o.gateway_id = gateway_id;
  o.heartbeat_interval = milliseconds(config.heartbeat_interval_ms);
  o.heartbeat_timeout = milliseconds(config.heartbeat_timeout_ms);
  o.max_inflight = config.online_max_inflight;
  o.batch_max_inflight = config.batch_max_inflight;
  o.batch_timeout = milliseconds(config.batch_timeout_ms);
  if (o.endpoint.empty()) return o;
  if (!is_z85_key(config.server_public_key)) {
    return make_error("district_config",
                      "district.server_public_key must be the platform's 40-character Z85 key");
  }
  o.server_public_key = config.server_public_key;
  if (config.client_key_file.empty()) {
    return make_error("district_config", "district.client_key_file is required with an endpoint");
  }
  // The caller knows where the key was set and names it (in_key()).
  auto keys = read_curve_key_file(config.client_key_file);
  if (!keys) return keys.error();
  o.client_keys = std::move(*keys);
  return o;
}

// ---- setup -----------------------------------------------------------------------------------

Result<void> DistrictLink::Impl::setup() {
  std::array<std::uint8_t, 32> server_key{};
  if (zmq_z85_decode(server_key.data(), opt.server_public_key.c_str()) == nullptr) {
    return make_error("district_config", "server public key is not Z85");
  }
  std::array<std::uint8_t, 32> public_key{};
  std::array<std::uint8_t, 32> secret_key{};
  if (zmq_z85_decode(public_key.data(), opt.client_keys.public_key.c_str()) == nullptr ||
      zmq_z85_decode(secret_key.data(), opt.client_keys.secret_key.c_str()) == nullptr) {
    return make_error("district_config", "client key pair is not Z85");
  }
  try {
    dealer = zmq::socket_t(ctx, zmq::socket_type::dealer);
    // Unsent messages are worthless at shutdown: online requests are past their deadline by
    // then and batches stay in the outbox until acked. A linger would only hold the shutdown
    // hostage to an unreachable platform.
    dealer.set(zmq::sockopt::linger, 0);
    // Only queue to a connection whose CURVE handshake is done. Without it, requests made while
    // the platform is away pile up in a pipe and go out in a burst on reconnect, long after
    // their deadlines; with it, a send fails at once and the caller falls back offline.
    dealer.set(zmq::sockopt::immediate, 1);
    // The queues hold what may be in flight (online requests, batches, heartbeats); more would
    // only be answers nobody waits for. Every send is non-blocking: a full queue is a failed
    // send (an online request falls back offline, a batch is retried later), never a blocked
    // I/O thread, however large a burst of batches the forwarder makes.
    const int queue = opt.max_inflight + opt.batch_max_inflight + kQueueHeadroom;
    dealer.set(zmq::sockopt::sndhwm, queue);
    dealer.set(zmq::sockopt::rcvhwm, queue);
    dealer.set(zmq::sockopt::reconnect_ivl, static_cast<int>(opt.reconnect_interval.count()));
    dealer.set(zmq::sockopt::reconnect_ivl_max,
               static_cast<int>(opt.reconnect_interval_max.count()));
    // ZMTP pings drop a connection whose peer vanished without a FIN (power loss, a cut line),
    // so libzmq reconnects instead of queueing into a dead TCP stream. Link health still comes
    // from the application's heartbeats: a ping answer proves only the platform's libzmq.
    dealer.set(zmq::sockopt::heartbeat_ivl, static_cast<int>(opt.heartbeat_interval.count()));
    dealer.set(zmq::sockopt::heartbeat_timeout, static_cast<int>(opt.heartbeat_timeout.count()));
    dealer.set(zmq::sockopt::heartbeat_ttl, static_cast<int>(opt.heartbeat_timeout.count()));
    // A handshake still unfinished when the link would count as down is abandoned and retried.
    dealer.set(zmq::sockopt::handshake_ivl, static_cast<int>(opt.heartbeat_timeout.count()));
    dealer.set(zmq::sockopt::maxmsgsize, kMaxAnswerBytes);
    // No fixed routing id: a ROUTER refuses a second connection with an id it still holds, so a
    // gateway restarted before the platform noticed the old connection would stay shut out.
    // The gateway names itself in its heartbeats instead.
    dealer.set(zmq::sockopt::curve_serverkey, zmq::const_buffer(server_key.data(), 32));
    dealer.set(zmq::sockopt::curve_publickey, zmq::const_buffer(public_key.data(), 32));
    dealer.set(zmq::sockopt::curve_secretkey, zmq::const_buffer(secret_key.data(), 32));

    // Connection events only feed log lines and stats (a wrong server key shows up here).
    if (zmq_socket_monitor(
            dealer.handle(), kMonitorEndpoint,
            ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
                ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0) {
      throw zmq::error_t();
    }
    monitor = zmq::socket_t(ctx, zmq::socket_type::pair);
    monitor.set(zmq::sockopt::linger, 0);
    monitor.connect(kMonitorEndpoint);

    wake_rx = zmq::socket_t(ctx, zmq::socket_type::pair);
    wake_rx.set(zmq::sockopt::linger, 0);
    wake_rx.bind(kWakeEndpoint);
    wake_tx = zmq::socket_t(ctx, zmq::socket_type::pair);
    wake_tx.set(zmq::sockopt::linger, 0);
    wake_tx.connect(kWakeEndpoint);

    dealer.connect(opt.endpoint);
  } catch (const zmq::error_t& e) {
    return make_error("zmq_setup", "district link " + opt.endpoint + ": " + e.what());
  }
  std::fill(secret_key.begin(), secret_key.end(), 0);
  return {};
}

// ---- public ----------------------------------------------------------------------------------

Result<std::unique_ptr<DistrictLink>> DistrictLink::start(DistrictLinkOptions options,
                                                          const Clock& clock,
                                                          std::shared_ptr<spdlog::logger> log) {
  if (!log) return make_error("district_config", "district link needs a logger");
  auto impl = std::make_unique<Impl>(std::move(options), clock, std::move(log));
  Impl& d = *impl;
  if (d.opt.endpoint.empty()) {
    d.log->info(
        "district link disabled (district.endpoint is empty): online authorization "
        "falls back to the offline rules");
    return std::unique_ptr<DistrictLink>(new DistrictLink(std::move(impl)));
  }
  if (!is_z85_key(d.opt.server_public_key)) {
    return make_error("district_config", "server public key must be 40 characters of Z85");
  }
  if (!is_z85_key(d.opt.client_keys.public_key) || !is_z85_key(d.opt.client_keys.secret_key)) {
    return make_error("district_config", "client key pair must be 40 characters of Z85 each");
  }
  if (d.opt.heartbeat_interval.count() <= 0 ||
      d.opt.heartbeat_timeout <= d.opt.heartbeat_interval) {
    return make_error("district_config",
                      "heartbeat timeout must be longer than a positive heartbeat interval");
  }
  if (d.opt.max_inflight < 1) return make_error("district_config", "max_inflight must be >= 1");
  if (d.opt.batch_max_inflight < 1 || d.opt.batch_timeout.count() <= 0) {
    return make_error("district_config",
                      "batch_max_inflight must be >= 1 and batch_timeout positive");
  }
  if (auto r = d.setup(); !r) return r.error();
  d.enabled = true;
  d.io = std::thread([&d] { d.run(); });
  d.log->info(
      "district link started endpoint={} heartbeat_interval_ms={} heartbeat_timeout_ms={} "
      "max_inflight={} batch_max_inflight={} batch_timeout_ms={}",
      d.opt.endpoint, d.opt.heartbeat_interval.count(), d.opt.heartbeat_timeout.count(),
      d.opt.max_inflight, d.opt.batch_max_inflight, d.opt.batch_timeout.count());
  return std::unique_ptr<DistrictLink>(new DistrictLink(std::move(impl)));
}

DistrictLink::DistrictLink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

DistrictLink::~DistrictLink() { stop(); }

void DistrictLink::stop() {
  Impl& d = *impl_;
  if (!d.io.joinable()) return;
  d.stop_requested.store(true);
  {
    std::lock_guard lock(d.submit_mu);
    if (!d.closed && !d.wake_pending) d.wake_pending = d.wake_locked();
  }
  d.io.join();
}

bool DistrictLink::enabled() const { return impl_->enabled; }

bool DistrictLink::up() const { return impl_->up_at(impl_->clock.steady()); }

std::int64_t DistrictLink::last_heartbeat_ms() const { return impl_->last_ack_wall_ms.load(); }

void DistrictLink::authorize(OnlineAuthRequest request, std::chrono::milliseconds deadline,
                             Callback done) {
  Impl& d = *impl_;
  d.auth_requests.fetch_add(1, std::memory_order_relaxed);
  const auto now = d.clock.steady();
  if (!d.enabled || !d.up_at(now)) {
    d.count(OnlineOutcome::link_down);
    d.invoke(done, OnlineOutcome::link_down, {});
    return;
  }
  if (d.inflight.fetch_add(1) >= d.opt.max_inflight) {
    d.inflight.fetch_sub(1);
    d.auth_busy.fetch_add(1, std::memory_order_relaxed);
    d.count(OnlineOutcome::error);
    d.invoke(done, OnlineOutcome::error, {});
    return;
  }
  {
    std::lock_guard lock(d.submit_mu);
    if (!d.closed) {
      d.submitted.push_back(Submitted{std::move(request), now + deadline, std::move(done)});
      if (!d.wake_pending) d.wake_pending = d.wake_locked();
      return;
    }
  }
  // stop() ran meanwhile: nobody is left to answer later.
  d.inflight.fetch_sub(1);
  d.count(OnlineOutcome::link_down);
  d.invoke(done, OnlineOutcome::link_down, {});
}

const std::string& DistrictLink::destination() const {
  static const std::string name = "district";  // the router's name for this platform
  return name;
}

int DistrictLink::max_in_flight() const { return impl_->opt.batch_max_inflight; }

void DistrictLink::send(const Batch& batch, Done done) {
  Impl& d = *impl_;
  if (batch.id.empty() || batch.id.size() > kMaxMessageIdBytes) {
    // Not a passing condition: the same batch would fail the same way on every retry, so it
    // goes to the dead letters where someone will see it.
    d.batches_rejected.fetch_add(1, std::memory_order_relaxed);
    d.invoke_batch(done, DeliveryResult{DeliveryStatus::rejected,
                                        "district: batch id must be 1.." +
                                            std::to_string(kMaxMessageIdBytes) + " bytes"});
    return;
  }
  if (d.enabled) {
    std::string payload = encode_batch(
        BatchHeader{d.opt.gateway_id, batch.count, batch.first_seq, batch.last_seq}, batch.payload);
    std::lock_guard lock(d.submit_mu);
    if (!d.closed) {
      d.batches_inflight.fetch_add(1);
      d.submitted_batches.push_back(SubmittedBatch{batch.id, std::move(payload), std::move(done)});
      if (!d.wake_pending) d.wake_pending = d.wake_locked();
      return;
    }
  }
  d.batches_retry.fetch_add(1, std::memory_order_relaxed);
  d.invoke_batch(done, DeliveryResult{DeliveryStatus::retry_later,
                                      d.enabled ? "district: link stopped"
                                                : "district: no district link configured"});
}

DistrictLink::Stats DistrictLink::stats() const {
  const Impl& d = *impl_;
  Stats s;
  s.enabled = d.enabled;
  s.up = up();
  s.connected = d.connected.load();
  s.last_heartbeat_ms = d.last_ack_wall_ms.load();
  s.heartbeat_rtt_us = d.rtt_us.load();
  s.heartbeats_sent = d.heartbeats_sent.load();
  s.heartbeats_answered = d.heartbeats_answered.load();
  s.auth_requests = d.auth_requests.load();
  s.auth_answered = d.auth_answered.load();
  s.auth_timeouts = d.auth_timeouts.load();
  s.auth_link_down = d.auth_link_down.load();
  s.auth_errors = d.auth_errors.load();
  s.auth_busy = d.auth_busy.load();
  s.late_answers = d.late_answers.load();
  s.bad_messages = d.bad_messages.load();
  s.handshake_failures = d.handshake_failures.load();
  s.disconnects = d.disconnects.load();
  s.inflight = d.inflight.load();
  s.batches_sent = d.batches_sent.load();
  s.batches_delivered = d.batches_delivered.load();
  s.batches_rejected = d.batches_rejected.load();
  s.batches_retry = d.batches_retry.load();
  s.batch_timeouts = d.batch_timeouts.load();
  s.late_batch_acks = d.late_batch_acks.load();
  s.batches_inflight = d.batches_inflight.load();
  return s;
}

// ---- I/O thread --------------------------------------------------------------------------------

bool DistrictLink::Impl::up_at(Steady::time_point now) const {
  const std::int64_t last = last_ack_steady_ns.load(std::memory_order_acquire);
  if (last == kNever) return false;
  return to_ns(now) - last < std::chrono::nanoseconds(opt.heartbeat_timeout).count();
}

// An empty message is enough: the I/O thread only needs to leave its poll. A full pipe means a
// wake is already on its way, and the poll's short timeout covers even a lost one.
bool DistrictLink::Impl::wake_locked() {
  try {
    return wake_tx.send(zmq::const_buffer(nullptr, 0), zmq::send_flags::dontwait).has_value();
  } catch (const zmq::error_t&) {
    return false;
  }
}

void DistrictLink::Impl::run() {
  next_heartbeat = clock.steady();
  while (!stop_requested.load()) {
    const auto now = clock.steady();
    auto wait = kMaxPollWait;
    auto until = [&](Steady::time_point t) {
      return std::max(milliseconds(0), std::chrono::ceil<milliseconds>(t - now));
    };
    wait = std::min(wait, until(next_heartbeat));
    if (!deadlines.empty()) wait = std::min(wait, until(deadlines.begin()->first));
    if (!batch_deadlines.empty()) wait = std::min(wait, until(batch_deadlines.begin()->first));
    if (reconnect_at) wait = std::min(wait, until(*reconnect_at));
    std::array<zmq::pollitem_t, 3> items{{{dealer.handle(), 0, ZMQ_POLLIN, 0},
                                          {wake_rx.handle(), 0, ZMQ_POLLIN, 0},
                                          {monitor.handle(), 0, ZMQ_POLLIN, 0}}};
    try {
      zmq::poll(items, wait);
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR)
        warn_throttled("poll", "district link: poll failed error=\"{}\"", e.what());
      continue;
    }
    if ((items[1].revents & ZMQ_POLLIN) != 0) {
      try {
        zmq::message_t m;
        while (wake_rx.recv(m, zmq::recv_flags::dontwait)) {
        }
      } catch (const zmq::error_t&) {
      }
    }
    take_submitted(clock.steady());
    if ((items[0].revents & ZMQ_POLLIN) != 0) receive_all(clock.steady());
    if ((items[2].revents & ZMQ_POLLIN) != 0) read_monitor();
    const auto after = clock.steady();
    expire(after);
    expire_batches(after);
    if (after >= next_heartbeat) send_heartbeat(after);
    track_health(after);
    reconnect_if_due(Steady::now());
  }
  shutdown();
}

void DistrictLink::Impl::take_submitted(Steady::time_point now) {
  {
    std::lock_guard lock(submit_mu);
    taking.swap(submitted);
    taking_batches.swap(submitted_batches);
    wake_pending = false;
  }
  for (Submitted& s : taking) submit_one(std::move(s), now);
  taking.clear();
  for (SubmittedBatch& b : taking_batches) submit_batch(std::move(b), now);
  taking_batches.clear();
}

void DistrictLink::Impl::submit_one(Submitted&& s, Steady::time_point now) {
  OnlineOutcome failure = OnlineOutcome::link_down;
  if (now >= s.deadline) {
    failure = OnlineOutcome::timeout;
  } else if (up_at(now)) {
    const std::uint64_t id = next_id++;
    if (send(MessageType::auth_req, std::to_string(id), encode_auth_request(s.request))) {
      const auto it = deadlines.emplace(s.deadline, id);
      pending.emplace(id, Pending{std::move(s.done), it});
      return;
    }
    // With ZMQ_IMMEDIATE a refused send means no session (or a full queue): nothing to wait for.
  }
  inflight.fetch_sub(1);
  count(failure);
  invoke(s.done, failure, {});
}

void DistrictLink::Impl::submit_batch(SubmittedBatch&& b, Steady::time_point now) {
  std::string why;
  if (!up_at(now)) {
    why = "district: link down (no heartbeat answer)";
  } else if (batches.contains(b.id)) {
    // The forwarder never does this; answering the second copy keeps "exactly once" for both.
    why = "district: batch already in flight";
  } else if (!send(MessageType::batch, b.id, b.payload)) {
    why = "district: send refused (no CURVE session, or the send queue is full)";
  } else {
    batches_sent.fetch_add(1, std::memory_order_relaxed);
    const auto it = batch_deadlines.emplace(now + opt.batch_timeout, b.id);
    batches.emplace(std::move(b.id), PendingBatch{std::move(b.done), it});
    return;
  }
  batches_inflight.fetch_sub(1);
  batches_retry.fetch_add(1, std::memory_order_relaxed);
  invoke_batch(b.done, DeliveryResult{DeliveryStatus::retry_later, std::move(why)});
}

bool DistrictLink::Impl::send(MessageType type, std::string_view id, std::string_view payload) {
  const std::string_view type_name = to_string(type);
  const std::array<zmq::const_buffer, kEnvelopeFrames> frames{
      zmq::buffer(kProtocolTag), zmq::buffer(type_name), zmq::buffer(id), zmq::buffer(payload)};
  try {
    for (std::size_t i = 0; i < frames.size(); ++i) {
      const auto flags = i + 1 < frames.size()
                             ? zmq::send_flags::sndmore | zmq::send_flags::dontwait
                             : zmq::send_flags::dontwait;
      // Only the first frame can be refused: ZeroMQ takes the rest of a started message whole.
      if (!dealer.send(frames[i], flags)) return false;
    }
    return true;
  } catch (const zmq::error_t& err) {
    warn_throttled("send", "district link: send failed type={} error=\"{}\"", type_name,
                   err.what());
    return false;
  }
}

void DistrictLink::Impl::receive_all(Steady::time_point now) {
  for (int i = 0; i < kMaxReceivesPerTurn; ++i) {
    std::vector<zmq::message_t> parts;
    try {
      if (!zmq::recv_multipart(dealer, std::back_inserter(parts), zmq::recv_flags::dontwait)) {
        return;
      }
    } catch (const zmq::error_t& e) {
      warn_throttled("recv", "district link: receive failed error=\"{}\"", e.what());
      return;
    }
    std::vector<std::string> frames;
    frames.reserve(parts.size());
    for (const zmq::message_t& p : parts) frames.emplace_back(p.to_string());
    auto envelope = from_frames(std::move(frames));
    if (!envelope) {
      bad_messages.fetch_add(1, std::memory_order_relaxed);
      warn_throttled("malformed", "district link: malformed message from the platform error={}",
                     envelope.error().code);
      continue;
    }
    handle(std::move(*envelope), now);
  }
}

void DistrictLink::Impl::handle(Envelope&& e, Steady::time_point now) {
  if (handle_batch_answer(e)) return;
  const auto id = parse_id(e.id);
  switch (e.type) {
    case MessageType::heartbeat_ack: {
      const auto it = id ? heartbeats_out.find(*id) : heartbeats_out.end();
      if (it == heartbeats_out.end()) {
        // An answer to a heartbeat already given up on still proves nothing about now.
        late_answers.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      rtt_us.store(std::chrono::duration_cast<std::chrono::microseconds>(now - it->second).count());
      heartbeats_out.erase(heartbeats_out.begin(), std::next(it));
      heartbeats_answered.fetch_add(1, std::memory_order_relaxed);
      last_ack_wall_ms.store(clock.wall_ms());
      last_ack_steady_ns.store(to_ns(now), std::memory_order_release);
      return;
    }
    case MessageType::auth_resp:
    case MessageType::error: {
      if (!id || !pending.contains(*id)) {
        if (id && *id < next_id) {
          late_answers.fetch_add(1, std::memory_order_relaxed);
        } else {
          bad_messages.fetch_add(1, std::memory_order_relaxed);
          warn_throttled("unknown_id", "district link: answer to a request never sent type={}",
                         to_string(e.type));
        }
        return;
      }
      if (e.type == MessageType::error) {
        const auto err = decode_error(e.payload);
        warn_throttled("platform_error", "district link: platform refused a request code={}",
                       err ? err->code : std::string("malformed"));
        complete(*id, OnlineOutcome::error, {});
        return;
      }
      auto reply = decode_auth_reply(e.payload);
      if (!reply) {
        bad_messages.fetch_add(1, std::memory_order_relaxed);
        warn_throttled("bad_reply", "district link: malformed AUTH_RESP error=\"{}\"",
                       reply.error().message);
        complete(*id, OnlineOutcome::error, {});
        return;
      }
      complete(*id, OnlineOutcome::answered, *reply);
      return;
    }
    case MessageType::heartbeat:
    case MessageType::auth_req:
    case MessageType::batch:
    case MessageType::batch_ack:  // taken by handle_batch_answer
      break;
  }
  bad_messages.fetch_add(1, std::memory_order_relaxed);
  warn_throttled("unexpected", "district link: unexpected message from the platform type={}",
                 to_string(e.type));
}

// BATCH_ACK, and ERROR answering a batch. False: not an answer to a batch.
bool DistrictLink::Impl::handle_batch_answer(const Envelope& e) {
  if (e.type != MessageType::batch_ack &&
      !(e.type == MessageType::error && (batches.contains(e.id) || is_batch_id(e.id)))) {
    return false;
  }
  if (!batches.contains(e.id)) {
    // Answered after its timeout (or twice): the forwarder already has retry_later and sends
    // it again under the same id; the platform drops the repeats, so ignoring this is safe.
    late_batch_acks.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  if (e.type == MessageType::batch_ack) {
    const auto ack = decode_batch_ack(e.payload);
    if (!ack || ack->batch_id != e.id) {
      bad_messages.fetch_add(1, std::memory_order_relaxed);
      const std::string why = ack ? "BATCH_ACK names another batch" : ack.error().message;
      warn_throttled("bad_batch_ack", "district link: malformed BATCH_ACK batch={} error=\"{}\"",
                     e.id, why);
      finish_batch(e.id, DeliveryResult{DeliveryStatus::retry_later,
                                        "district: malformed BATCH_ACK: " + why});
      return true;
    }
    finish_batch(e.id, DeliveryResult{DeliveryStatus::delivered,
                                      "accepted=" + std::to_string(ack->accepted) +
                                          " duplicates=" + std::to_string(ack->duplicates)});
    return true;
  }
  const auto err = decode_error(e.payload);
  if (!err) {
    bad_messages.fetch_add(1, std::memory_order_relaxed);
    finish_batch(e.id, DeliveryResult{DeliveryStatus::retry_later,
                                      "district: malformed ERROR: " + err.error().message});
    return true;
  }
  std::string detail = "district: platform ERROR " + err->code;
  if (!err->message.empty()) detail += ": " + err->message;
  if (err->code == kErrorInvalidBatch) {
    finish_batch(e.id, DeliveryResult{DeliveryStatus::rejected, std::move(detail)});
    return true;
  }
  // Backoff in the forwarder reads this key from the detail (gateway/outbox/backoff.h).
  if (err->retry_after_ms > 0) detail += " retry_after_ms=" + std::to_string(err->retry_after_ms);
  finish_batch(e.id, DeliveryResult{DeliveryStatus::retry_later, std::move(detail)});
  return true;
}

void DistrictLink::Impl::finish_batch(const std::string& id, DeliveryResult result) {
  const auto it = batches.find(id);
  if (it == batches.end()) return;
  UpstreamLink::Done done = std::move(it->second.done);
  batch_deadlines.erase(it->second.by_deadline);
  batches.erase(it);
  batches_inflight.fetch_sub(1);
  switch (result.status) {
    case DeliveryStatus::delivered:
      batches_delivered.fetch_add(1, std::memory_order_relaxed);
      break;
    case DeliveryStatus::rejected:
      batches_rejected.fetch_add(1, std::memory_order_relaxed);
      warn_throttled("batch_rejected", "district link: platform rejected batch={} detail=\"{}\"",
                     id, result.detail);
      break;
    case DeliveryStatus::retry_later:
      batches_retry.fetch_add(1, std::memory_order_relaxed);
      break;
  }
  invoke_batch(done, std::move(result));
}

void DistrictLink::Impl::fail_all_batches(const std::string& detail) {
  while (!batch_deadlines.empty()) {
    finish_batch(batch_deadlines.begin()->second,
                 DeliveryResult{DeliveryStatus::retry_later, detail});
  }
}

void DistrictLink::Impl::expire_batches(Steady::time_point now) {
  while (!batch_deadlines.empty() && batch_deadlines.begin()->first <= now) {
    batch_timeouts.fetch_add(1, std::memory_order_relaxed);
    const std::string id = batch_deadlines.begin()->second;
    warn_throttled("batch_timeout", "district link: no BATCH_ACK within {} ms batch={}",
                   opt.batch_timeout.count(), id);
    finish_batch(id, DeliveryResult{DeliveryStatus::retry_later,
                                    "district: no BATCH_ACK within " +
                                        std::to_string(opt.batch_timeout.count()) + " ms"});
  }
}

void DistrictLink::Impl::read_monitor() {
  for (;;) {
    std::vector<zmq::message_t> parts;
    try {
      if (!zmq::recv_multipart(monitor, std::back_inserter(parts), zmq::recv_flags::dontwait)) {
        return;
      }
    } catch (const zmq::error_t&) {
      return;
    }
    if (parts.size() != 2 || parts[0].size() < sizeof(std::uint16_t)) continue;
    std::uint16_t event = 0;
    std::memcpy(&event, parts[0].data(), sizeof event);
    switch (event) {
      case ZMQ_EVENT_CONNECTED:
        failure_reported = false;
        break;
      case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        session = true;
        failures_in_row = 0;
        connected.store(true);
        log->info("district link: CURVE session established endpoint={}", opt.endpoint);
        break;
      case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
      case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
      case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        if (!failure_reported) handshake_failed(event_name(event));
        break;
      case ZMQ_EVENT_DISCONNECTED:
        if (session) {
          session = false;
          connected.store(false);
          disconnects.fetch_add(1, std::memory_order_relaxed);
          warn_throttled("disconnect", "district link: connection lost endpoint={}", opt.endpoint);
        } else if (!failure_reported) {
          // Closed before the CURVE handshake finished: with CurveZMQ that is what a server
          // does with a HELLO it cannot decrypt, i.e. the pinned key is not the platform's.
          handshake_failed("closed_by_peer");
        }
        break;
      default:
        break;
    }
  }
}

// libzmq retries a refused handshake at the base reconnect interval forever, since its backoff
// covers only failed TCP connects. A wrong key does not fix itself, so the link pauses instead,
// doubling up to the maximum interval: hundreds of misconfigured boxes must not keep the
// platform busy with handshakes.
void DistrictLink::Impl::handshake_failed(std::string_view why) {
  failure_reported = true;
  handshake_failures.fetch_add(1, std::memory_order_relaxed);
  warn_throttled("handshake",
                 "district link: CURVE handshake failed endpoint={} kind={} (check "
                 "district.server_public_key and that the platform accepts this gateway's key)",
                 opt.endpoint, why);
  if (reconnect_at) return;
  const int doublings = std::min(failures_in_row++, 16);
  const auto pause =
      std::min<milliseconds>(opt.reconnect_interval * (1 << doublings), opt.reconnect_interval_max);
  try {
    dealer.disconnect(opt.endpoint);
    reconnect_at = Steady::now() + pause;
  } catch (const zmq::error_t&) {
    // Not connected any more (already torn down): libzmq's own retry stays in charge.
  }
}

void DistrictLink::Impl::reconnect_if_due(Steady::time_point now) {
  if (!reconnect_at || now < *reconnect_at) return;
  reconnect_at.reset();
  try {
    dealer.connect(opt.endpoint);
  } catch (const zmq::error_t& e) {
    warn_throttled("reconnect", "district link: reconnect failed endpoint={} error=\"{}\"",
                   opt.endpoint, e.what());
    reconnect_at = now + opt.reconnect_interval_max;
  }
}

void DistrictLink::Impl::expire(Steady::time_point now) {
  while (!deadlines.empty() && deadlines.begin()->first <= now) {
    complete(deadlines.begin()->second, OnlineOutcome::timeout, {});
  }
}

void DistrictLink::Impl::send_heartbeat(Steady::time_point now) {
  next_heartbeat = now + opt.heartbeat_interval;
  const std::uint64_t id = next_id++;
  if (send(MessageType::heartbeat, std::to_string(id),
           encode_heartbeat(Heartbeat{opt.gateway_id, clock.wall_ms()}))) {
    heartbeats_out.emplace(id, now);
    heartbeats_sent.fetch_add(1, std::memory_order_relaxed);
  }
  // An answer older than the timeout could not keep the link up anyway.
  while (!heartbeats_out.empty() && now - heartbeats_out.begin()->second > opt.heartbeat_timeout) {
    heartbeats_out.erase(heartbeats_out.begin());
  }
}

void DistrictLink::Impl::track_health(Steady::time_point now) {
  const bool is_up = up_at(now);
  if (is_up == reported_up) return;
  reported_up = is_up;
  if (is_up) {
    log->info("district link up endpoint={} heartbeat_rtt_us={}", opt.endpoint, rtt_us.load());
    return;
  }
  log->warn(
      "district link down endpoint={} no heartbeat answer for {} ms; online requests fall "
      "back to the offline rules",
      opt.endpoint, opt.heartbeat_timeout.count());
  // Nothing answered for a whole timeout: waiting out the requests' own deadlines would only
  // delay the offline decisions, and waiting out the batches' timeouts only the resends.
  fail_all_pending(OnlineOutcome::link_down);
  fail_all_batches("district: link went down while the batch waited for its ack");
}

void DistrictLink::Impl::complete(std::uint64_t id, OnlineOutcome outcome,
                                  const OnlineAuthReply& reply) {
  const auto it = pending.find(id);
  if (it == pending.end()) return;
  OnlineAuthClient::Callback done = std::move(it->second.done);
  deadlines.erase(it->second.by_deadline);
  pending.erase(it);
  inflight.fetch_sub(1);
  count(outcome);
  invoke(done, outcome, reply);
}

void DistrictLink::Impl::fail_all_pending(OnlineOutcome outcome) {
  while (!deadlines.empty()) complete(deadlines.begin()->second, outcome, {});
}

void DistrictLink::Impl::shutdown() {
  std::vector<Submitted> left;
  std::vector<SubmittedBatch> left_batches;
  {
    std::lock_guard lock(submit_mu);
    closed = true;
    left.swap(submitted);
    left_batches.swap(submitted_batches);
    try {
      wake_tx.close();
    } catch (const zmq::error_t&) {
    }
  }
  for (Submitted& s : left) {
    inflight.fetch_sub(1);
    count(OnlineOutcome::link_down);
    invoke(s.done, OnlineOutcome::link_down, {});
  }
  fail_all_pending(OnlineOutcome::link_down);
  for (SubmittedBatch& b : left_batches) {
    batches_inflight.fetch_sub(1);
    batches_retry.fetch_add(1, std::memory_order_relaxed);
    invoke_batch(b.done, DeliveryResult{DeliveryStatus::retry_later, "district: link stopped"});
  }
  fail_all_batches("district: link stopped");
  last_ack_steady_ns.store(kNever);
  connected.store(false);
  try {
    zmq_socket_monitor(dealer.handle(), nullptr, 0);
    monitor.close();
    wake_rx.close();
    dealer.close();
  } catch (const zmq::error_t&) {
  }
  log->info("district link stopped endpoint={}", opt.endpoint);
}

void DistrictLink::Impl::count(OnlineOutcome outcome) {
  switch (outcome) {
    case OnlineOutcome::answered:
      auth_answered.fetch_add(1, std::memory_order_relaxed);
      break;
    case OnlineOutcome::timeout:
      auth_timeouts.fetch_add(1, std::memory_order_relaxed);
      break;
    case OnlineOutcome::link_down:
      auth_link_down.fetch_add(1, std::memory_order_relaxed);
      break;
    case OnlineOutcome::error:
      auth_errors.fetch_add(1, std::memory_order_relaxed);
      break;
  }
}

// Like invoke(): a throwing completion must not take the I/O thread down.
void DistrictLink::Impl::invoke_batch(const UpstreamLink::Done& done, DeliveryResult result) {
  if (!done) return;
  try {
    done(std::move(result));
  } catch (const std::exception& e) {
    log->error("district link: batch completion threw error=\"{}\"", e.what());
  } catch (...) {
    log->error("district link: batch completion threw a non-standard exception");
  }
}

// A callback that throws must not take the I/O thread (and every later request) down with it.
void DistrictLink::Impl::invoke(const OnlineAuthClient::Callback& done, OnlineOutcome outcome,
                                const OnlineAuthReply& reply) {
  if (!done) return;
  try {
    done(outcome, reply);
  } catch (const std::exception& e) {
    log->error("district link: online auth callback threw error=\"{}\"", e.what());
  } catch (...) {
    log->error("district link: online auth callback threw a non-standard exception");
  }
}

}  // namespace yktgw::district
