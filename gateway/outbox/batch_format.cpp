#include "gateway/outbox/batch_format.h"

#include <libdeflate.h>
#include <zlib.h>

#include <charconv>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>

namespace yktgw::outbox {
namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is not one (overlong forms,
// surrogates and values past U+10FFFF count as invalid, as JSON parsers treat them).
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  auto cont = [&](std::size_t k) {
    return i + k < s.size() && (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
  };
  if (b0 < 0x80) return 1;
  if (b0 >= 0xC2 && b0 <= 0xDF) return cont(1) ? 2 : 0;
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    const auto b1 = static_cast<unsigned char>(s[i + 1]);
    if (b0 == 0xE0 && b1 < 0xA0) return 0;   // overlong
    if (b0 == 0xED && b1 >= 0xA0) return 0;  // surrogate
    return 3;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    const auto b1 = static_cast<unsigned char>(s[i + 1]);
    if (b0 == 0xF0 && b1 < 0x90) return 0;   // overlong
    if (b0 == 0xF4 && b1 >= 0x90) return 0;  // past U+10FFFF
    return 4;
  }
  return 0;
}

void append_json_string(std::string_view s, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const std::size_t n = utf8_sequence_length(s, i);
      if (n == 0) {
        out += "\xEF\xBF\xBD";  // U+FFFD
        ++i;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xF];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
}

template <typename Int>
void append_int(Int v, std::string& out) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

void field(std::string_view name, std::string& out) {
  out += ",\"";
  out += name;
  out += "\":";
}

// Typed access to one line's object; the first problem wins and names the field.
class LineReader {
 public:
  explicit LineReader(const nlohmann::json& j) : j_(j) {}

  std::string text(const char* name) {
    const auto it = j_.find(name);
    if (it == j_.end() || !it->is_string()) return fail(name, "a string"), std::string();
    return it->get<std::string>();
  }
  std::int64_t integer(const char* name, std::int64_t lo, std::int64_t hi) {
    const auto it = j_.find(name);
    if (it == j_.end() || !it->is_number_integer()) return fail(name, "an integer"), 0;
    std::int64_t v = 0;
    if (it->is_number_unsigned()) {
      const auto u = it->get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return fail(name, "an integer in range"), 0;
      }
      v = static_cast<std::int64_t>(u);
    } else {
      v = it->get<std::int64_t>();
    }
    if (v < lo || v > hi) return fail(name, "an integer in range"), 0;
    return v;
  }
  const std::optional<std::string>& problem() const { return problem_; }
  void fail(std::string_view name, std::string_view expected) {
    if (!problem_) problem_ = "field '" + std::string(name) + "' must be " + std::string(expected);
  }

 private:
  const nlohmann::json& j_;
  std::optional<std::string> problem_;
};

constexpr std::int64_t kMaxInt = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kMinInt = std::numeric_limits<std::int64_t>::min();

}  // namespace

void append_record_line(const ForwardedRecord& f, std::string& out) {
  const TxnRecord& r = f.record;
  out += "{\"v\":";
  append_int(kRecordLineVersion, out);
  field("seq", out);
  append_int(f.seq, out);
  field("gateway", out);
  append_json_string(f.gateway, out);
  field("site", out);
  append_json_string(r.site, out);
  field("terminal", out);
  append_json_string(r.terminal, out);
  field("txn_id", out);
  append_json_string(r.txn_id, out);
  field("req_id", out);
  append_json_string(r.req_id, out);
  field("scenario", out);
  append_json_string(r.scenario, out);
  field("service_item", out);
  append_int(r.service_item, out);
  field("ts", out);
  append_int(r.ts_ms, out);
  field("received", out);
  append_int(r.received_ms, out);
  field("cred_type", out);
  append_json_string(to_string(r.card.type), out);
  field("card_token", out);
  append_json_string(r.card.token, out);
  field("card_masked", out);
  append_json_string(r.card.masked, out);
  field("cred_method", out);
  append_json_string(r.card.method, out);
  field("issuer_region", out);
  append_int(r.card.region, out);
  field("amount_fen", out);
  append_int(r.amount_fen, out);
  field("result", out);
  append_json_string(to_string(r.result), out);
  field("reason", out);
  append_json_string(r.reason, out);
  field("mode", out);
  append_json_string(to_string(r.mode), out);
  // Only records that are not transactions say their kind, so transaction lines stay what
  // platforms that predate kinds read.
  if (r.kind != RecordKind::txn) {
    field("kind", out);
    append_json_string(to_string(r.kind), out);
  }
  out += "}\n";
}

std::string record_line(const ForwardedRecord& r) {
  std::string out;
  append_record_line(r, out);
  return out;
}

Result<std::vector<ForwardedRecord>> parse_record_lines(std::string_view ndjson) {
  std::vector<ForwardedRecord> records;
  std::size_t line_no = 0;
  while (!ndjson.empty()) {
    ++line_no;
    const auto nl = ndjson.find('\n');
    std::string_view line = ndjson.substr(0, nl);
    ndjson = nl == std::string_view::npos ? std::string_view() : ndjson.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    auto where = [&] { return "line " + std::to_string(line_no) + ": "; };

    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return make_error("bad_line", where() + "not valid JSON");
    if (!j.is_object()) return make_error("bad_line", where() + "not a JSON object");

    LineReader in(j);
    ForwardedRecord f;
    TxnRecord& r = f.record;
    const auto version = in.integer("v", 1, 1'000'000);
    f.seq = static_cast<std::uint64_t>(in.integer("seq", 0, kMaxInt));
    f.gateway = in.text("gateway");
    r.site = in.text("site");
    r.terminal = in.text("terminal");
    r.txn_id = in.text("txn_id");
    r.req_id = in.text("req_id");
    r.scenario = in.text("scenario");
    r.service_item = static_cast<int>(in.integer("service_item", 0, 1'000'000));
    r.ts_ms = in.integer("ts", kMinInt, kMaxInt);
    r.received_ms = in.integer("received", kMinInt, kMaxInt);
    const std::string cred = in.text("cred_type");
    r.card.token = in.text("card_token");
    r.card.masked = in.text("card_masked");
    r.card.method = in.text("cred_method");
    r.card.region = static_cast<IssuerRegion>(in.integer("issuer_region", 0, 65535));
    r.amount_fen = in.integer("amount_fen", kMinInt, kMaxInt);
    const std::string result = in.text("result");
    r.reason = in.text("reason");
    const std::string mode = in.text("mode");
    const std::string kind = j.contains("kind") ? in.text("kind") : std::string("txn");
    if (in.problem()) return make_error("bad_line", where() + *in.problem());
    (void)version;

    const auto type = credential_type_from(cred);
    if (!type) return make_error("bad_line", where() + "unknown cred_type '" + cred + "'");
    r.card.type = *type;
    if (result == "approved") {
      r.result = TxnResult::approved;
    } else if (result == "declined") {
      r.result = TxnResult::declined;
    } else {
      return make_error("bad_line", where() + "result must be approved or declined");
    }
    if (mode == "online") {
      r.mode = AuthMode::online;
    } else if (mode == "offline") {
      r.mode = AuthMode::offline;
    } else {
      return make_error("bad_line", where() + "mode must be online or offline");
    }
    const auto record_kind = record_kind_from(kind);
    if (!record_kind) return make_error("bad_line", where() + "unknown kind '" + kind + "'");
    r.kind = *record_kind;
    if (r.terminal.empty() || r.txn_id.empty()) {
      return make_error("bad_line", where() + "terminal and txn_id must not be empty");
    }
    records.push_back(std::move(f));
  }
  return records;
}

std::string batch_id(std::string_view gateway, std::string_view destination,
                     std::uint64_t first_seq, std::uint64_t last_seq) {
  std::string id;
  id.reserve(gateway.size() + destination.size() + 44);
  id.append(gateway);
  id += '-';
  id.append(destination);
  id += '-';
  append_int(first_seq, id);
  id += '-';
  append_int(last_seq, id);
  return id;
}

namespace {

// One libdeflate compressor per thread and level: allocating one costs more than compressing a
// small batch, and a compressor may not be shared between threads.
struct Compressor {
  int level = -1;
  libdeflate_compressor* c = nullptr;
  Compressor() = default;
  Compressor(const Compressor&) = delete;
  Compressor& operator=(const Compressor&) = delete;
  ~Compressor() {
    if (c != nullptr) libdeflate_free_compressor(c);
  }
};

libdeflate_compressor* compressor_for(int level) {
  thread_local Compressor cached;
  if (cached.c == nullptr || cached.level != level) {
    if (cached.c != nullptr) libdeflate_free_compressor(cached.c);
    cached.c = libdeflate_alloc_compressor(level);
    cached.level = cached.c != nullptr ? level : -1;
  }
  return cached.c;
}

}  // namespace

Result<std::string> gzip_compress(std::string_view data, int level) {
  if (level < 0 || level > 12) {
    return make_error("gzip", "compression level " + std::to_string(level) + " is not 0..12");
  }
  libdeflate_compressor* c = compressor_for(level);
  if (c == nullptr) return make_error("gzip", "cannot allocate a compressor");
  std::string out;
  out.resize(libdeflate_gzip_compress_bound(c, data.size()));
  const std::size_t produced =
      libdeflate_gzip_compress(c, data.data(), data.size(), out.data(), out.size());
  if (produced == 0) return make_error("gzip", "compressed data does not fit its bound");
  out.resize(produced);
  return out;
}

Result<std::string> gzip_decompress(std::string_view data, std::size_t max_bytes) {
  z_stream zs{};
  // 15 + 32: detect a gzip or zlib header automatically.
  if (inflateInit2(&zs, 15 + 32) != Z_OK) return make_error("bad_gzip", "inflateInit2 failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char buf[64 * 1024];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      return make_error("bad_gzip", rc == Z_BUF_ERROR
                                        ? "truncated gzip data"
                                        : "corrupt gzip data (" + std::to_string(rc) + ")");
    }
    const std::size_t n = sizeof buf - zs.avail_out;
    if (out.size() + n > max_bytes) {
      inflateEnd(&zs);
      return make_error("too_large",
                        "inflated data exceeds " + std::to_string(max_bytes) + " bytes");
    }
    out.append(buf, n);
    if (rc == Z_OK && zs.avail_in == 0 && n == 0) {
      inflateEnd(&zs);
      return make_error("bad_gzip", "truncated gzip data");
    }
  }
  const bool trailing = zs.avail_in != 0;
  inflateEnd(&zs);
  if (trailing) return make_error("bad_gzip", "data after the end of the gzip stream");
  return out;
}

bool looks_gzipped(std::string_view data) {
  return data.size() >= 2 && static_cast<unsigned char>(data[0]) == 0x1F &&
         static_cast<unsigned char>(data[1]) == 0x8B;
}

}  // namespace yktgw::outbox
