#include "terminals_sim/platform/district_batches.h"

#include <utility>

#include "gateway/outbox/batch_format.h"

namespace yktgw::platform {

using district::Envelope;
using district::MessageType;

Result<std::unique_ptr<DistrictBatchReceiver>> DistrictBatchReceiver::open(
    DistrictBatchOptions options, const Clock& clock) {
  auto store = ReceivedStore::open(options.db_path);
  if (!store) return store.error();
  return std::unique_ptr<DistrictBatchReceiver>(
      new DistrictBatchReceiver(std::move(options), std::move(store.value()), clock));
}

DistrictBatchReceiver::DistrictBatchReceiver(DistrictBatchOptions options, ReceivedStore store,
                                             const Clock& clock)
    : options_(std::move(options)), store_(std::move(store)), clock_(clock) {
  faults_ = options_.faults;
  rng_.seed(faults_.seed != 0 ? faults_.seed : std::random_device{}());
}

void DistrictBatchReceiver::set_faults(const ReceiverFaults& faults) {
  std::lock_guard lock(mu_);
  faults_ = faults;
}

ReceiverStats DistrictBatchReceiver::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

DistrictBatchReceiver::Fault DistrictBatchReceiver::draw_fault(ReceiverFaults& now) {
  std::lock_guard lock(mu_);
  now = faults_;
  const double r = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  double edge = faults_.error_500_probability;
  if (r < edge) return Fault::e500;
  edge += faults_.error_429_probability;
  if (r < edge) return Fault::e429;
  edge += faults_.error_400_probability;
  if (r < edge) return Fault::e400;
  return Fault::none;
}

bool DistrictBatchReceiver::draw_drop(double probability) {
  if (probability <= 0) return false;
  std::lock_guard lock(mu_);
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng_) < probability;
}

namespace {

Handled error_answer(const Envelope& in, std::string_view code, std::string message,
                     std::int64_t retry_after_ms = 0) {
  Handled h;
  h.reply = Envelope{MessageType::error, in.id,
                     district::encode_error(district::ErrorReply{
                         std::string(code), std::move(message), retry_after_ms})};
  return h;
}

}  // namespace

Handled DistrictBatchReceiver::invalid(const Envelope& in, std::string message) {
  {
    std::lock_guard lock(mu_);
    ++stats_.malformed;
  }
  return error_answer(in, district::kErrorInvalidBatch, std::move(message));
}

Handled DistrictBatchReceiver::handle(const Envelope& in) {
  ReceiverFaults faults;
  switch (draw_fault(faults)) {
    case Fault::e500: {
      std::lock_guard lock(mu_);
      ++stats_.injected_500;
      return error_answer(in, district::kErrorUnavailable, "fault injection: 500");
    }
    case Fault::e429: {
      std::lock_guard lock(mu_);
      ++stats_.injected_429;
      return error_answer(in, district::kErrorBusy, "fault injection: 429",
                          static_cast<std::int64_t>(faults.retry_after_s) * 1000);
    }
    case Fault::e400: {
      std::lock_guard lock(mu_);
      ++stats_.injected_400;
      return error_answer(in, district::kErrorInvalidBatch, "fault injection: 400");
    }
    case Fault::none:
      break;
  }

  auto batch = district::decode_batch(in.payload);
  if (!batch) return invalid(in, batch.error().message);
  // The body must be what the outbox makes: gzip. Plain text would mean a gateway that does not
  // follow the protocol, and accepting it would hide that.
  if (!outbox::looks_gzipped(batch->body)) return invalid(in, "body is not gzip");
  auto lines = outbox::gzip_decompress(batch->body, options_.max_inflated_bytes);
  if (!lines) return invalid(in, lines.error().message);
  auto records = outbox::parse_record_lines(*lines);
  if (!records) return invalid(in, records.error().message);
  if (records->size() != batch->header.records) {
    return invalid(in, "header says " + std::to_string(batch->header.records) +
                           " records, the body has " + std::to_string(records->size()));
  }
  for (const outbox::ForwardedRecord& r : *records) {
    if (r.gateway != batch->header.gateway) {
      return invalid(in, "record seq " + std::to_string(r.seq) + " names gateway '" + r.gateway +
                             "', the header '" + batch->header.gateway + "'");
    }
  }

  auto counts =
      store_.accept(options_.platform, batch->header.gateway, in.id, *records, clock_.wall_ms());
  if (!counts) {
    // Nothing was stored (one transaction): the gateway may simply send it again.
    return error_answer(in, district::kErrorUnavailable,
                        "cannot store the batch: " + counts.error().message);
  }
  const bool drop = draw_drop(faults.drop_ack_probability);
  {
    std::lock_guard lock(mu_);
    ++stats_.batches_accepted;
    stats_.records_accepted += counts->accepted;
    stats_.duplicates += counts->duplicates;
    if (drop) ++stats_.dropped_acks;
  }
  if (drop) return {};
  Handled h;
  h.reply = Envelope{
      MessageType::batch_ack, in.id,
      district::encode_batch_ack(district::BatchAck{in.id, counts->accepted, counts->duplicates})};
  h.delay = std::chrono::milliseconds(faults.ack_delay_ms);
  return h;
}

}  // namespace yktgw::platform
