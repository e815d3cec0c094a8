#include "connectors/mqtt/paho_terminal_link.h"

#include <mqtt/async_client.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>

#include "connectors/mqtt/tcp_nodelay.h"

namespace yktgw::mqtt {

namespace paho = ::mqtt;

struct PahoTerminalLink::Impl {
  LinkOptions opt;
  std::shared_ptr<spdlog::logger> log;
  std::unique_ptr<paho::async_client> cli;
  InboundHandler handler;

  std::atomic<bool> intake{true};
  std::atomic<bool> up{false};
  std::atomic<bool> subscribed{false};
  std::atomic<std::uint64_t> connects{0}, losses{0}, published{0}, backpressure{0};

  std::mutex mu;
  std::condition_variable cv;
  bool need_connect = true;
  bool stopping = false;
  std::thread supervisor;

  paho::connect_options connect_options() const;
  void supervise();
  bool connect_once();
  void on_lost(const std::string& cause);
};

paho::connect_options PahoTerminalLink::Impl::connect_options() const {
  auto b = paho::connect_options_builder()
               .mqtt_version(MQTTVERSION_5)
               .clean_start(!opt.persistent_session)
               .keep_alive_interval(std::chrono::seconds(opt.keepalive_s))
               .connect_timeout(std::chrono::seconds(10))
               .max_inflight(opt.max_inflight)
               .automatic_reconnect(false);  // reconnects are ours: ms backoff with jitter
  if (!opt.username.empty()) b.user_name(opt.username).password(opt.password);
  if (opt.uri.starts_with("ssl://") || opt.uri.starts_with("mqtts://")) {
    auto ssl =
        paho::ssl_options_builder().enable_server_cert_auth(opt.tls_verify).verify(opt.tls_verify);
    if (!opt.tls_ca_file.empty()) ssl.trust_store(opt.tls_ca_file);
    if (!opt.tls_cert_file.empty()) ssl.key_store(opt.tls_cert_file);
    if (!opt.tls_key_file.empty()) ssl.private_key(opt.tls_key_file);
    b.ssl(ssl.finalize());
  }
  if (!opt.presence_topic.empty()) {
    b.will(paho::message(opt.presence_topic, opt.presence_offline, 1, true));
  }
  auto opts = b.finalize();
  // Set last: in Paho C++ 1.2.0 setting the will afterwards drops the connect properties, and
  // the broker then forgets our session at every disconnect.
  if (opt.persistent_session) {
    opts.set_properties(paho::properties{
        {paho::property::SESSION_EXPIRY_INTERVAL, static_cast<int32_t>(opt.session_expiry_s)}});
  }
  return opts;
}

bool PahoTerminalLink::Impl::connect_once() {
  try {
    auto tok = cli->connect(connect_options());
    if (!tok->wait_for(std::chrono::seconds(15))) {
      log->warn("connect timed out uri={}", opt.uri);
      return false;
    }
    // Up from here: a persistent session delivers queued messages at once, before our
    // subscribe completes, and their replies must not be refused as "disconnected".
    up = true;
    const auto& connack = tok->get_connect_response();
    const bool session_present = connack.is_session_present();
    // Paho C queues publishes past the broker's receive maximum and then sends them only on a
    // timer tick (a few hundred acks/s instead of thousands): the broker must allow a window
    // as large as ours (mosquitto: max_inflight_messages 0).
    int receive_max = 65535;
    if (connack.get_properties().contains(paho::property::RECEIVE_MAXIMUM))
      receive_max = paho::get<uint16_t>(connack.get_properties(), paho::property::RECEIVE_MAXIMUM);
    if (receive_max < opt.max_inflight) {
      log->warn(
          "broker receive maximum {} is below mqtt.max_inflight {}: replies will queue in "
          "the client under load; raise the broker's limit (mosquitto: "
          "max_inflight_messages 0)",
          receive_max, opt.max_inflight);
    }
    // Without this every QoS 1 round trip waits on Nagle + delayed ACK (88 ms on loopback).
    const int nodelay = set_tcp_nodelay_to_broker(opt.uri);
    if (!opt.subscriptions.empty()) {
      std::vector<int> qos(opt.subscriptions.size(), 1);
      auto sub = cli->subscribe(paho::string_collection::create(opt.subscriptions), qos);
      if (!sub->wait_for(std::chrono::seconds(10))) {
        log->warn("subscribe timed out uri={}", opt.uri);
        up = false;
        subscribed = false;
        cli->disconnect()->wait_for(std::chrono::seconds(2));
        return false;
      }
      bool all_granted = true;
      // Held by name: get_subscribe_response() returns by value and get_reason_codes() a
      // reference into it, so a range-for over the chained call would read a dead temporary.
      const auto response = sub->get_subscribe_response();
      for (auto rc : response.get_reason_codes()) {
        // Paho C++ 1.2.0 can hand back unset values here; only 0x80..0xFF are refusals.
        if (rc >= 0x80 && rc <= 0xFF) {
          all_granted = false;
          log->error("subscription refused by broker reason_code={} (check the broker ACL)",
                     static_cast<int>(rc));
        }
      }
      subscribed = all_granted;
    } else {
      subscribed = true;
    }
    if (!opt.presence_topic.empty()) {
      cli->publish(opt.presence_topic, opt.presence_online.data(), opt.presence_online.size(), 1,
                   true);
    }
    ++connects;
    log->info(
        "connected uri={} session_present={} tcp_nodelay_sockets={} subscriptions={} "
        "broker_receive_max={}",
        opt.uri, session_present, nodelay, opt.subscriptions.size(), receive_max);
    return true;
  } catch (const paho::exception& e) {
    up = false;
    subscribed = false;
    log->warn("connect failed uri={} error=\"{}\"", opt.uri, e.what());
    return false;
  }
}

void PahoTerminalLink::Impl::supervise() {
  std::mt19937 rng(std::random_device{}());
  int backoff = opt.reconnect_min_ms;
  std::unique_lock lock(mu);
  while (!stopping) {
    cv.wait(lock, [&] { return need_connect || stopping; });
    if (stopping) break;
    lock.unlock();
    const bool ok = connect_once();
    lock.lock();
    if (ok) {
      need_connect = false;
      backoff = opt.reconnect_min_ms;
      continue;
    }
    // Full jitter keeps hundreds of gateways from reconnecting in step after a broker restart.
    std::uniform_int_distribution<int> jitter(backoff / 2, backoff);
    cv.wait_for(lock, std::chrono::milliseconds(jitter(rng)), [&] { return stopping; });
    backoff = std::min(backoff * 2, opt.reconnect_max_ms);
  }
}

void PahoTerminalLink::Impl::on_lost(const std::string& cause) {
  up = false;
  subscribed = false;
  ++losses;
  log->warn("connection lost uri={} cause=\"{}\"", opt.uri, cause);
  {
    std::lock_guard lock(mu);
    need_connect = true;
  }
  cv.notify_all();
}

PahoTerminalLink::PahoTerminalLink(LinkOptions options, std::shared_ptr<spdlog::logger> log)
    : impl_(std::make_unique<Impl>()) {
  impl_->opt = std::move(options);
  impl_->log = std::move(log);
}

PahoTerminalLink::~PahoTerminalLink() { stop(1000); }

Result<void> PahoTerminalLink::start(InboundHandler handler) {
  auto& d = *impl_;
  d.handler = std::move(handler);
  try {
    d.cli = std::make_unique<paho::async_client>(
        d.opt.uri, d.opt.client_id, paho::create_options(MQTTVERSION_5, d.opt.max_buffered),
        static_cast<paho::iclient_persistence*>(nullptr));
  } catch (const paho::exception& e) {
    return make_error("mqtt", "cannot create MQTT client for '" + d.opt.uri + "': " + e.what());
  }
  // Paho callbacks only hand work on: no blocking, no sleeping in them.
  d.cli->set_message_callback([&d](paho::const_message_ptr m) {
    if (!d.intake.load(std::memory_order_relaxed) || !m) return;
    InboundMessage in;
    in.topic = m->get_topic();
    in.payload = m->to_string();
    const auto& props = m->get_properties();
    if (props.contains(paho::property::RESPONSE_TOPIC)) {
      in.response_topic = paho::get<std::string>(props, paho::property::RESPONSE_TOPIC);
      if (props.contains(paho::property::CORRELATION_DATA)) {
        in.correlation_data = paho::get<std::string>(props, paho::property::CORRELATION_DATA);
        in.has_correlation = true;
      }
    }
    in.received_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    d.handler(std::move(in));
  });
  d.cli->set_connection_lost_handler([&d](const std::string& cause) { d.on_lost(cause); });
  d.cli->set_disconnected_handler([&d](const paho::properties&, paho::ReasonCode rc) {
    d.on_lost("broker sent DISCONNECT reason_code=" + std::to_string(static_cast<int>(rc)));
  });
  d.supervisor = std::thread([&d] { d.supervise(); });
  return {};
}

PublishStatus PahoTerminalLink::publish(OutboundMessage msg) {
  auto& d = *impl_;
  if (!d.cli || !d.up.load(std::memory_order_relaxed)) return PublishStatus::disconnected;
  try {
    auto m = paho::message::create(msg.topic, msg.payload, 1, msg.retained);
    if (msg.has_correlation) {
      paho::properties props;
      props.add(paho::property(paho::property::CORRELATION_DATA, msg.correlation_data));
      m->set_properties(std::move(props));
    }
    d.cli->publish(std::move(m));
    ++d.published;
    return PublishStatus::ok;
  } catch (const paho::exception& e) {
    if (e.get_return_code() == MQTTASYNC_MAX_BUFFERED_MESSAGES) {
      ++d.backpressure;
      return PublishStatus::backpressure;
    }
    if (e.get_return_code() == MQTTASYNC_DISCONNECTED) return PublishStatus::disconnected;
    return PublishStatus::error;
  }
}

void PahoTerminalLink::stop_intake() { impl_->intake = false; }

void PahoTerminalLink::stop(int timeout_ms) {
  auto& d = *impl_;
  {
    std::lock_guard lock(d.mu);
    if (d.stopping) return;
    d.stopping = true;
  }
  d.cv.notify_all();
  if (d.supervisor.joinable()) d.supervisor.join();
  if (!d.cli) return;
  try {
    if (d.cli->is_connected()) {
      if (!d.opt.presence_topic.empty()) {
        d.cli
            ->publish(d.opt.presence_topic, d.opt.presence_offline.data(),
                      d.opt.presence_offline.size(), 1, true)
            ->wait_for(std::chrono::milliseconds(timeout_ms / 2));
      }
      // Paho waits up to the timeout for in-flight QoS 1 publishes (our acks) to complete.
      d.cli->disconnect(timeout_ms)->wait_for(std::chrono::milliseconds(timeout_ms + 500));
    }
  } catch (const paho::exception& e) {
    d.log->warn("disconnect error=\"{}\"", e.what());
  }
  d.up = false;
  d.subscribed = false;
}

bool PahoTerminalLink::connected() const { return impl_->up.load(); }

bool PahoTerminalLink::serving() const { return impl_->up.load() && impl_->subscribed.load(); }

PahoTerminalLink::Stats PahoTerminalLink::stats() const {
  return {impl_->connects.load(), impl_->losses.load(), impl_->published.load(),
          impl_->backpressure.load()};
}

}  // namespace yktgw::mqtt
