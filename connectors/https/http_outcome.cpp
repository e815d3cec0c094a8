#include "connectors/https/http_outcome.h"

#include <cctype>
#include <charconv>
#include <ctime>
#include <nlohmann/json.hpp>

namespace yktgw::https {

std::string_view to_string(TransportError e) {
  switch (e) {
    case TransportError::none:
      return "none";
    case TransportError::timeout:
      return "timeout";
    case TransportError::connect:
      return "connect";
    case TransportError::tls:
      return "tls";
    case TransportError::other:
      return "transport";
  }
  return "transport";
}

std::string excerpt(std::string_view body, std::size_t max) {
  std::size_t n = body.size();
  bool cut = false;
  if (n > max) {
    n = max;
    while (n > 0 && (static_cast<unsigned char>(body[n]) & 0xC0) == 0x80) --n;
    cut = true;
  }
  std::string out;
  out.reserve(n + 3);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(body[i]);
    out += (c < 0x20 || c == 0x7F) ? ' ' : static_cast<char>(c);
  }
  // The excerpt goes to logs and the dead-letter table, where no full card or citizen number
  // may be. Records carry none, but a platform's message might echo one: keep the first six
  // and last four digits of any long run of digits, as the gateway's masked form does.
  constexpr std::size_t kLongRun = 12;
  for (std::size_t i = 0; i < out.size();) {
    if (!std::isdigit(static_cast<unsigned char>(out[i]))) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < out.size() && std::isdigit(static_cast<unsigned char>(out[j]))) ++j;
    if (j - i >= kLongRun) {
      for (std::size_t k = i + 6; k < j - 4; ++k) out[k] = '*';
    }
    i = j;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (cut) out += "...";
  return out;
}

std::optional<std::int64_t> parse_retry_after(std::string_view value, std::int64_t now_ms) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t' || value.back() == '\r' ||
                            value.back() == '\n')) {
    value.remove_suffix(1);
  }
  if (value.empty()) return std::nullopt;
  std::int64_t seconds = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec == std::errc() && end == value.data() + value.size()) {
    if (seconds < 0) return std::nullopt;
    // A platform asking for more than a day is clamped: the core's own cap still applies.
    return std::min<std::int64_t>(seconds, 86'400) * 1000;
  }
  // IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
  std::tm tm{};
  const std::string text(value);
  const char* rest = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (rest == nullptr || *rest != '\0') return std::nullopt;
  const std::int64_t at_ms = static_cast<std::int64_t>(timegm(&tm)) * 1000;
  return std::max<std::int64_t>(0, std::min<std::int64_t>(at_ms - now_ms, 86'400'000));
}

DeliveryResult classify(const HttpOutcome& o) {
  if (o.transport != TransportError::none) {
    return {DeliveryStatus::retry_later,
            std::string(to_string(o.transport)) + ": " + o.transport_detail};
  }
  const std::string status = "http " + std::to_string(o.status);
  if (o.status >= 200 && o.status < 300) {
    // A platform that names the batch it acks must name this one; anything else is not an ack.
    const auto j = nlohmann::json::parse(o.body, nullptr, /*allow_exceptions=*/false);
    if (j.is_object()) {
      const auto it = j.find("batch_id");
      if (it != j.end() && it->is_string() && it->get<std::string>() != o.batch_id) {
        return {DeliveryStatus::retry_later,
                status + ": ack names batch '" + excerpt(it->get<std::string>(), 100) + "'"};
      }
    }
    return {DeliveryStatus::delivered, status};
  }
  std::string detail = status;
  if (o.retry_after_ms && (o.status == 429 || o.status == 503)) {
    detail += " retry_after_ms=" + std::to_string(*o.retry_after_ms);
  }
  const std::string body = excerpt(o.body);
  if (!body.empty()) detail += ": " + body;
  if (o.status >= 500 || o.status == 429 || o.status == 408 ||
      (o.status >= 300 && o.status < 400)) {
    return {DeliveryStatus::retry_later, detail};
  }
  if (o.status >= 400) return {DeliveryStatus::rejected, detail};
  // 1xx as a final answer, or nonsense: the platform is not speaking HTTP as agreed.
  return {DeliveryStatus::retry_later, detail};
}

}  // namespace yktgw::https
