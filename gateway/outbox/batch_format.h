#pragma once
// The record payload of a forwarded batch (docs/upstream-https.md, "Batch payload"): gzip of
// JSON lines, one de-identified record per line. Shared by the gateway's batcher, the platform
// simulator's receivers (HTTPS and ZeroMQ) and the tests, so both ends read one codec.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/core/records.h"
#include "gateway/core/result.h"

namespace yktgw::outbox {

// Version of the line format; every line carries it as "v", so a platform can tell a newer
// gateway's lines apart from a malformed one.
inline constexpr int kRecordLineVersion = 1;

// One stored record as it crosses to a platform: the store's sequence number and the sending
// gateway travel with it, so a platform can report gaps and tell boxes apart.
struct ForwardedRecord {
  std::uint64_t seq = 0;
  std::string gateway;
  TxnRecord record;
  bool operator==(const ForwardedRecord&) const = default;
};

// Appends one JSON line (with its '\n') to `out`. Field order is fixed; strings that are not
// valid UTF-8 have the offending bytes replaced by U+FFFD, so one bad byte from a terminal
// cannot make a whole batch unreadable at the platform.
void append_record_line(const ForwardedRecord& r, std::string& out);
std::string record_line(const ForwardedRecord& r);

// Parses JSON lines (uncompressed). Empty lines are skipped; unknown fields are ignored (a newer
// gateway may add some). Errors: "bad_line" with the 1-based line number in the message.
Result<std::vector<ForwardedRecord>> parse_record_lines(std::string_view ndjson);

// "<gateway id>-<destination>-<first_seq>-<last_seq>": the batch's idempotency key. The range
// is recorded in outbox.db before the first send, so the id survives retries and restarts.
std::string batch_id(std::string_view gateway, std::string_view destination,
                     std::uint64_t first_seq, std::uint64_t last_seq);

// gzip (RFC 1952) of `data`, made with libdeflate (whole-buffer: a batch is in memory anyway),
// which at level 1 is about twice as fast as zlib's level 1 and compresses a little better.
// Levels 0..12 (libdeflate's scale: 1 fastest, 6 zlib's default, 12 smallest). Level 1: JSON
// lines shrink about 6x even at the fastest level, and compression is most of the forwarding
// cost per record.
Result<std::string> gzip_compress(std::string_view data, int level = 1);

// Inflates gzip or zlib data. Refuses output beyond `max_bytes` ("too_large") so a small
// hostile body cannot exhaust memory; "bad_gzip" for corrupt or truncated input.
Result<std::string> gzip_decompress(std::string_view data, std::size_t max_bytes);

// True when `data` starts with the gzip magic bytes.
bool looks_gzipped(std::string_view data);

}  // namespace yktgw::outbox
