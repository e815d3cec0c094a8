#include "connectors/zmq/district_server.h"

#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <cstring>
#include <iterator>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "gateway/core/log_throttle.h"

namespace yktgw::district {
namespace {

// Batches (issue 4) are the largest messages: compressed, a few MiB at most. Anything bigger
// is refused by libzmq before it takes the platform's memory.
constexpr std::int64_t kMaxMessageBytes = 64 << 20;

const char* const kMonitorEndpoint = "inproc://district-server-monitor";

}  // namespace

struct DistrictServer::Impl {
  DistrictServerOptions opt;
  std::shared_ptr<spdlog::logger> log;
  std::string bound;
  zmq::context_t ctx;  // before the sockets: destroyed after them
  zmq::socket_t router;
  zmq::socket_t monitor;
  LogThrottle throttle{std::chrono::seconds(10)};
  std::atomic<std::uint64_t> received{0}, malformed{0}, sent{0}, send_failures{0}, handshakes{0},
      handshake_failures{0};

  void read_monitor();
  template <typename... Args>
  void warn_throttled(std::string_view key, spdlog::format_string_t<Args...> fmt, Args&&... args) {
    std::uint64_t held = 0;
    if (!throttle.allow(key, std::chrono::steady_clock::now(), held)) return;
    log->warn(fmt, std::forward<Args>(args)...);
    if (held > 0) log->warn("district server: {} similar warnings held back key={}", held, key);
  }
};

Result<std::unique_ptr<DistrictServer>> DistrictServer::bind(DistrictServerOptions options,
                                                             std::shared_ptr<spdlog::logger> log) {
  if (!log) return make_error("district_config", "district server needs a logger");
  if (!is_z85_key(options.server_keys.secret_key)) {
    return make_error("district_config", "server secret key must be 40 characters of Z85");
  }
  auto impl = std::make_unique<Impl>();
  impl->opt = std::move(options);
  impl->log = std::move(log);
  Impl& d = *impl;
  std::array<std::uint8_t, 32> secret{};
  if (zmq_z85_decode(secret.data(), d.opt.server_keys.secret_key.c_str()) == nullptr) {
    return make_error("district_config", "server secret key is not Z85");
  }
  try {
    d.router = zmq::socket_t(d.ctx, zmq::socket_type::router);
    // Answers to a gateway that has gone are worthless; closing must not wait for it.
    d.router.set(zmq::sockopt::linger, 0);
    // A send to a vanished peer fails visibly (counted) instead of being dropped silently.
    d.router.set(zmq::sockopt::router_mandatory, 1);
    d.router.set(zmq::sockopt::sndhwm, d.opt.queue_limit);
    d.router.set(zmq::sockopt::rcvhwm, d.opt.queue_limit);
    d.router.set(zmq::sockopt::maxmsgsize, kMaxMessageBytes);
    // CURVE server. No ZAP handler is installed, so any client key is accepted: the simulator
    // does not enrol gateways. A production platform installs a ZAP handler with the keys of
    // the gateways it knows.
    d.router.set(zmq::sockopt::curve_server, 1);
    d.router.set(zmq::sockopt::curve_secretkey, zmq::const_buffer(secret.data(), secret.size()));
    if (zmq_socket_monitor(d.router.handle(), kMonitorEndpoint,
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0) {
      throw zmq::error_t();
    }
    d.monitor = zmq::socket_t(d.ctx, zmq::socket_type::pair);
    d.monitor.set(zmq::sockopt::linger, 0);
    d.monitor.connect(kMonitorEndpoint);
    d.router.bind(d.opt.endpoint);
    d.bound = d.router.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return make_error("zmq_bind", "cannot listen on " + d.opt.endpoint + ": " + e.what());
  }
  secret.fill(0);
  d.log->info("district server listening endpoint={} public_key={}", d.bound,
              d.opt.server_keys.public_key);
  return std::unique_ptr<DistrictServer>(new DistrictServer(std::move(impl)));
}

DistrictServer::DistrictServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

DistrictServer::~DistrictServer() {
  try {
    zmq_socket_monitor(impl_->router.handle(), nullptr, 0);
    impl_->monitor.close();
    impl_->router.close();
  } catch (const zmq::error_t&) {
  }
}

const std::string& DistrictServer::endpoint() const { return impl_->bound; }

Result<std::optional<PeerMessage>> DistrictServer::receive(std::chrono::milliseconds timeout) {
  Impl& d = *impl_;
  std::array<zmq::pollitem_t, 2> items{
      {{d.router.handle(), 0, ZMQ_POLLIN, 0}, {d.monitor.handle(), 0, ZMQ_POLLIN, 0}}};
  std::vector<zmq::message_t> parts;
  try {
    zmq::poll(items, timeout);
    if ((items[1].revents & ZMQ_POLLIN) != 0) d.read_monitor();
    if ((items[0].revents & ZMQ_POLLIN) == 0) return std::optional<PeerMessage>();
    if (!zmq::recv_multipart(d.router, std::back_inserter(parts), zmq::recv_flags::dontwait)) {
      return std::optional<PeerMessage>();
    }
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR) return std::optional<PeerMessage>();
    return make_error("zmq_receive", std::string("district server: ") + e.what());
  }
  d.received.fetch_add(1, std::memory_order_relaxed);
  if (parts.size() < 2) {
    d.malformed.fetch_add(1, std::memory_order_relaxed);
    return std::optional<PeerMessage>();
  }
  std::vector<std::string> frames;
  for (std::size_t i = 1; i < parts.size(); ++i) frames.emplace_back(parts[i].to_string());
  auto envelope = from_frames(std::move(frames));
  if (!envelope) {
    d.malformed.fetch_add(1, std::memory_order_relaxed);
    d.warn_throttled("malformed", "district server: malformed message from a gateway error={}",
                     envelope.error().code);
    return std::optional<PeerMessage>();
  }
  return std::optional<PeerMessage>(PeerMessage{parts[0].to_string(), std::move(*envelope)});
}

bool DistrictServer::send(const std::string& peer, const Envelope& envelope) {
  Impl& d = *impl_;
  const auto frames = to_frames(envelope);
  try {
    if (!d.router.send(zmq::buffer(peer), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
      d.send_failures.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    for (std::size_t i = 0; i < frames.size(); ++i) {
      const auto flags = i + 1 < frames.size()
                             ? zmq::send_flags::sndmore | zmq::send_flags::dontwait
                             : zmq::send_flags::dontwait;
      d.router.send(zmq::buffer(frames[i]), flags);
    }
  } catch (const zmq::error_t& e) {
    // EHOSTUNREACH: the gateway disconnected since it asked (ROUTER_MANDATORY says so).
    d.send_failures.fetch_add(1, std::memory_order_relaxed);
    if (e.num() != EHOSTUNREACH) {
      d.warn_throttled("send", "district server: send failed error=\"{}\"", e.what());
    }
    return false;
  }
  d.sent.fetch_add(1, std::memory_order_relaxed);
  return true;
}

DistrictServer::Stats DistrictServer::stats() const {
  const Impl& d = *impl_;
  return Stats{d.received.load(),      d.malformed.load(),  d.sent.load(),
               d.send_failures.load(), d.handshakes.load(), d.handshake_failures.load()};
}

void DistrictServer::Impl::read_monitor() {
  for (;;) {
    std::vector<zmq::message_t> parts;
    if (!zmq::recv_multipart(monitor, std::back_inserter(parts), zmq::recv_flags::dontwait)) {
      return;
    }
    if (parts.size() != 2 || parts[0].size() < sizeof(std::uint16_t)) continue;
    std::uint16_t event = 0;
    std::memcpy(&event, parts[0].data(), sizeof event);
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
      handshakes.fetch_add(1, std::memory_order_relaxed);
      log->debug("district server: gateway session established");
    } else {
      handshake_failures.fetch_add(1, std::memory_order_relaxed);
      const char* kind = event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH       ? "auth"
                         : event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? "protocol"
                                                                        : "no_detail";
      warn_throttled("handshake",
                     "district server: CURVE handshake with a gateway failed kind={} (a gateway "
                     "pinning another server key, or not a yktgw gateway)",
                     kind);
    }
  }
}

}  // namespace yktgw::district
