#include "terminals_sim/platform/platform_service.h"

namespace yktgw::platform {
namespace {

using district::Envelope;
using district::MessageType;

// More gateways than a district has boxes means something is making names up.
constexpr std::size_t kMaxGatewaysTracked = 10'000;

Handled error_reply(const Envelope& in, std::string code, std::string message) {
  Handled h;
  h.reply =
      Envelope{MessageType::error, in.id,
               district::encode_error(district::ErrorReply{std::move(code), std::move(message)})};
  return h;
}

}  // namespace

PlatformService::PlatformService(const PlatformCards& cards, ServiceOptions options,
                                 const Clock& clock)
    : cards_(cards), options_(options), clock_(clock) {}

Handled PlatformService::handle(const Envelope& in) {
  switch (in.type) {
    case MessageType::heartbeat:
      return heartbeat(in);
    case MessageType::auth_req:
      return auth(in);
    case MessageType::batch:
      // Batches reach here only on a platform without a store for them (DistrictBatchReceiver
      // takes them otherwise). Say so rather than leave the gateway waiting: the gateway keeps
      // the records and tries again later.
      unsupported_.fetch_add(1, std::memory_order_relaxed);
      return error_reply(in, "unsupported_type", "this platform stores no batches (no --db)");
    case MessageType::heartbeat_ack:
    case MessageType::auth_resp:
    case MessageType::batch_ack:
    case MessageType::error:
      break;
  }
  // Answers flow from the platform, never to it: answering them could start a ping-pong.
  unsupported_.fetch_add(1, std::memory_order_relaxed);
  return {};
}

Handled PlatformService::heartbeat(const Envelope& in) {
  heartbeats_.fetch_add(1, std::memory_order_relaxed);
  const auto hb = district::decode_heartbeat(in.payload);
  if (!hb) {
    malformed_.fetch_add(1, std::memory_order_relaxed);
    return error_reply(in, "malformed", hb.error().message);
  }
  const std::int64_t now = clock_.wall_ms();
  {
    std::lock_guard lock(gateways_mu_);
    auto it = gateways_.find(hb->gateway);
    if (it == gateways_.end() && gateways_.size() < kMaxGatewaysTracked) {
      it = gateways_.emplace(hb->gateway, GatewaySeen{hb->gateway, 0, 0}).first;
    }
    if (it != gateways_.end()) {
      it->second.last_heartbeat_ms = now;
      ++it->second.heartbeats;
    }
  }
  if (options_.drop_heartbeats) {
    heartbeats_dropped_.fetch_add(1, std::memory_order_relaxed);
    return {};
  }
  Handled h;
  h.reply = Envelope{MessageType::heartbeat_ack, in.id,
                     district::encode_heartbeat_ack(district::HeartbeatAck{now})};
  return h;
}

Handled PlatformService::auth(const Envelope& in) {
  auth_requests_.fetch_add(1, std::memory_order_relaxed);
  const auto request = district::decode_auth_request(in.payload);
  if (!request) {
    malformed_.fetch_add(1, std::memory_order_relaxed);
    return error_reply(in, "malformed", request.error().message);
  }
  const OnlineAuthReply reply = cards_.decide(*request);
  (reply.decision == Decision::approve ? approved_ : declined_)
      .fetch_add(1, std::memory_order_relaxed);
  Handled h;
  h.reply = Envelope{MessageType::auth_resp, in.id, district::encode_auth_reply(reply)};
  h.delay = options_.auth_delay;
  h.record =
      AuthRecord{clock_.wall_ms(),  request->req_id,     request->site,       request->terminal,
                 request->scenario, request->card_token, request->amount_fen, reply};
  return h;
}

PlatformService::Stats PlatformService::stats() const {
  return Stats{heartbeats_.load(), heartbeats_dropped_.load(), auth_requests_.load(),
               approved_.load(),   declined_.load(),           malformed_.load(),
               unsupported_.load()};
}

std::vector<GatewaySeen> PlatformService::gateways() const {
  std::lock_guard lock(gateways_mu_);
  std::vector<GatewaySeen> out;
  out.reserve(gateways_.size());
  for (const auto& [name, seen] : gateways_) out.push_back(seen);
  return out;
}

}  // namespace yktgw::platform
