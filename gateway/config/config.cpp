// Loads yktgw.toml into Config. toml++ is confined to this file so its templates compile once
// and its types never leak into the rest of the gateway.
//
// Order of application: schema defaults, then the file, then --set overrides, then the checks
// that involve more than one key. A value from any source goes through the same store_value(),
// so an override is held to exactly the rules a file value is.

#include "gateway/config/config.h"

#include <arpa/inet.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include "gateway/config/toml_names.h"

namespace yktgw {
namespace {

namespace fs = std::filesystem;

using Scalar = std::variant<std::string, std::int64_t, bool>;

// Where a key's value lives in Config. Plain function pointers keep the table constant-initialised
// and let config_value_text() and keys_needing_restart() reuse it instead of listing fields again.
template <typename T>
using Field = T& (*)(Config&);

struct Binding {
  std::string_view path;
  std::variant<Field<std::string>, Field<int>, Field<bool>> field;
};

const Binding kBindings[] = {
    {"gateway.id", +[](Config& c) -> std::string& { return c.gateway.id; }},
    {"gateway.site", +[](Config& c) -> std::string& { return c.gateway.site; }},
    {"gateway.data_dir", +[](Config& c) -> std::string& { return c.gateway.data_dir; }},
    {"gateway.workers", +[](Config& c) -> int& { return c.gateway.workers; }},
    {"gateway.queue_capacity", +[](Config& c) -> int& { return c.gateway.queue_capacity; }},
    {"gateway.queue_max_mib", +[](Config& c) -> int& { return c.gateway.queue_max_mib; }},
    {"gateway.terminal_rate_per_s",
     +[](Config& c) -> int& { return c.gateway.terminal_rate_per_s; }},
    {"gateway.terminal_burst", +[](Config& c) -> int& { return c.gateway.terminal_burst; }},
    {"gateway.inline_auth", +[](Config& c) -> bool& { return c.gateway.inline_auth; }},
    {"mqtt.uri", +[](Config& c) -> std::string& { return c.mqtt.uri; }},
    {"mqtt.client_id", +[](Config& c) -> std::string& { return c.mqtt.client_id; }},
    {"mqtt.shared_group", +[](Config& c) -> std::string& { return c.mqtt.shared_group; }},
    {"mqtt.username", +[](Config& c) -> std::string& { return c.mqtt.username; }},
    {"mqtt.password", +[](Config& c) -> std::string& { return c.mqtt.password; }},
    {"mqtt.keepalive_s", +[](Config& c) -> int& { return c.mqtt.keepalive_s; }},
    {"mqtt.persistent_session", +[](Config& c) -> bool& { return c.mqtt.persistent_session; }},
    {"mqtt.session_expiry_s", +[](Config& c) -> int& { return c.mqtt.session_expiry_s; }},
    {"mqtt.reconnect_min_ms", +[](Config& c) -> int& { return c.mqtt.reconnect_min_ms; }},
    {"mqtt.reconnect_max_ms", +[](Config& c) -> int& { return c.mqtt.reconnect_max_ms; }},
    {"mqtt.max_buffered", +[](Config& c) -> int& { return c.mqtt.max_buffered; }},
    {"mqtt.max_inflight", +[](Config& c) -> int& { return c.mqtt.max_inflight; }},
    {"mqtt.max_payload_bytes", +[](Config& c) -> int& { return c.mqtt.max_payload_bytes; }},
    {"mqtt.max_batch_records", +[](Config& c) -> int& { return c.mqtt.max_batch_records; }},
    {"mqtt.max_batch_payload_bytes",
     +[](Config& c) -> int& { return c.mqtt.max_batch_payload_bytes; }},
    {"mqtt.tls.ca_file", +[](Config& c) -> std::string& { return c.mqtt.tls.ca_file; }},
    {"mqtt.tls.cert_file", +[](Config& c) -> std::string& { return c.mqtt.tls.cert_file; }},
    {"mqtt.tls.key_file", +[](Config& c) -> std::string& { return c.mqtt.tls.key_file; }},
    {"mqtt.tls.verify", +[](Config& c) -> bool& { return c.mqtt.tls.verify; }},
    {"store.commit_max_records", +[](Config& c) -> int& { return c.store.commit_max_records; }},
    {"store.commit_linger_ms", +[](Config& c) -> int& { return c.store.commit_linger_ms; }},
    {"store.queue_capacity", +[](Config& c) -> int& { return c.store.queue_capacity; }},
    {"store.synchronous", +[](Config& c) -> std::string& { return c.store.synchronous; }},
    {"store.disk_quota_mb", +[](Config& c) -> int& { return c.store.disk_quota_mb; }},
    {"store.retention_days", +[](Config& c) -> int& { return c.store.retention_days; }},
    {"store.wal_checkpoint_mb", +[](Config& c) -> int& { return c.store.wal_checkpoint_mb; }},
    {"security.hmac_key_file", +[](Config& c) -> std::string& { return c.security.hmac_key_file; }},
    {"log.level", +[](Config& c) -> std::string& { return c.log.level; }},
    {"log.console", +[](Config& c) -> bool& { return c.log.console; }},
    {"log.file_max_bytes", +[](Config& c) -> int& { return c.log.file_max_bytes; }},
    {"log.file_count", +[](Config& c) -> int& { return c.log.file_count; }},
    {"log.warn_interval_ms", +[](Config& c) -> int& { return c.log.warn_interval_ms; }},
    {"credentials.terminal_mac_keys_file",
     +[](Config& c) -> std::string& { return c.credentials.terminal_mac_keys_file; }},
    {"credentials.ecard_key_dir",
     +[](Config& c) -> std::string& { return c.credentials.ecard_key_dir; }},
    {"credentials.ykm_key_dir",
     +[](Config& c) -> std::string& { return c.credentials.ykm_key_dir; }},
    {"credentials.qr_clock_skew_ms",
     +[](Config& c) -> int& { return c.credentials.qr_clock_skew_ms; }},
    {"credentials.qr_max_validity_ms",
     +[](Config& c) -> int& { return c.credentials.qr_max_validity_ms; }},
    {"credentials.replay_cache_entries",
     +[](Config& c) -> int& { return c.credentials.replay_cache_entries; }},
    {"credentials.crypto_workers", +[](Config& c) -> int& { return c.credentials.crypto_workers; }},
    {"cardlist.groups", +[](Config& c) -> std::string& { return c.cardlist.groups; }},
    {"cardlist.feed_url", +[](Config& c) -> std::string& { return c.cardlist.feed_url; }},
    {"cardlist.platform_public_key_file",
     +[](Config& c) -> std::string& { return c.cardlist.platform_public_key_file; }},
    {"cardlist.ca_file", +[](Config& c) -> std::string& { return c.cardlist.ca_file; }},
    {"cardlist.poll_interval_s", +[](Config& c) -> int& { return c.cardlist.poll_interval_s; }},
    {"cardlist.snapshot_timeout_s",
     +[](Config& c) -> int& { return c.cardlist.snapshot_timeout_s; }},
    {"cardlist.max_age_s", +[](Config& c) -> int& { return c.cardlist.max_age_s; }},
    {"district.endpoint", +[](Config& c) -> std::string& { return c.district.endpoint; }},
    {"district.server_public_key",
     +[](Config& c) -> std::string& { return c.district.server_public_key; }},
    {"district.client_key_file",
     +[](Config& c) -> std::string& { return c.district.client_key_file; }},
    {"district.heartbeat_interval_ms",
     +[](Config& c) -> int& { return c.district.heartbeat_interval_ms; }},
    {"district.heartbeat_timeout_ms",
     +[](Config& c) -> int& { return c.district.heartbeat_timeout_ms; }},
    {"district.online_max_inflight",
     +[](Config& c) -> int& { return c.district.online_max_inflight; }},
    {"district.batch_max_inflight",
     +[](Config& c) -> int& { return c.district.batch_max_inflight; }},
    {"district.batch_timeout_ms", +[](Config& c) -> int& { return c.district.batch_timeout_ms; }},
    {"policy.file", +[](Config& c) -> std::string& { return c.policy.file; }},
    {"policy.service_items_file",
     +[](Config& c) -> std::string& { return c.policy.service_items_file; }},
    {"policy.state_flush_ms", +[](Config& c) -> int& { return c.policy.state_flush_ms; }},
    {"upstream.district_regions",
     +[](Config& c) -> std::string& { return c.upstream.district_regions; }},
    {"upstream.crossprov_regions",
     +[](Config& c) -> std::string& { return c.upstream.crossprov_regions; }},
    {"upstream.unknown_region_destination",
     +[](Config& c) -> std::string& { return c.upstream.unknown_region_destination; }},
    {"upstream.no_card_destination",
     +[](Config& c) -> std::string& { return c.upstream.no_card_destination; }},
    {"upstream.copy_all_to_district",
     +[](Config& c) -> bool& { return c.upstream.copy_all_to_district; }},
    {"upstream.batch_max_records", +[](Config& c) -> int& { return c.upstream.batch_max_records; }},
    {"upstream.batch_max_bytes", +[](Config& c) -> int& { return c.upstream.batch_max_bytes; }},
    {"upstream.batch_linger_ms", +[](Config& c) -> int& { return c.upstream.batch_linger_ms; }},
    {"upstream.retry_min_ms", +[](Config& c) -> int& { return c.upstream.retry_min_ms; }},
    {"upstream.retry_max_ms", +[](Config& c) -> int& { return c.upstream.retry_max_ms; }},
    {"upstream.background_nice", +[](Config& c) -> int& { return c.upstream.background_nice; }},
    {"https.url", +[](Config& c) -> std::string& { return c.https.url; }},
    {"https.ca_file", +[](Config& c) -> std::string& { return c.https.ca_file; }},
    {"https.client_cert_file", +[](Config& c) -> std::string& { return c.https.client_cert_file; }},
    {"https.client_key_file", +[](Config& c) -> std::string& { return c.https.client_key_file; }},
    {"https.connect_timeout_ms", +[](Config& c) -> int& { return c.https.connect_timeout_ms; }},
    {"https.timeout_ms", +[](Config& c) -> int& { return c.https.timeout_ms; }},
    {"https.max_in_flight", +[](Config& c) -> int& { return c.https.max_in_flight; }},
    {"status.listen", +[](Config& c) -> std::string& { return c.status.listen; }},
    {"status.token", +[](Config& c) -> std::string& { return c.status.token; }},
};

const Binding* find_binding(std::string_view path) {
  for (const Binding& b : kBindings) {
    if (b.path == path) return &b;
  }
  return nullptr;
}

// ---- text helpers ----------------------------------------------------------------------------

// Values end up in one-line log messages: escape control characters and cap the length.
std::string shown(std::string_view s) {
  constexpr std::size_t kMax = 80;
  std::string out;
  std::size_t n = s.size();
  bool cut = false;
  if (n > kMax) {
    n = kMax;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // UTF-8 boundary
    cut = true;
  }
  for (std::size_t i = 0; i < n; ++i) {
    const auto ch = static_cast<unsigned char>(s[i]);
    if (ch < 0x20 || ch == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", ch);
      out += buf;
    } else {
      out += static_cast<char>(ch);
    }
  }
  if (cut) out += "...";
  return out;
}

std::string toml_quote(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto ch = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (ch < 0x20 || ch == 0x7F) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04X", ch);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string scalar_text(const Scalar& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return shown(*s);
  if (const auto* i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
  return std::get<bool>(v) ? "true" : "false";
}

std::string_view with_article(KeyType t) {
  switch (t) {
    case KeyType::string:
      return "a string";
    case KeyType::integer:
      return "an integer";
    case KeyType::boolean:
      return "a boolean";
  }
  return "a value";
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const std::string& s : items) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

// ---- value checks ----------------------------------------------------------------------------

std::optional<std::string> name_problem(std::string_view v) {
  const bool ok = !v.empty() && v.size() <= 64 && std::all_of(v.begin(), v.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
  if (ok) return std::nullopt;
  return "expected 1-64 characters of A-Z a-z 0-9 _ . -";
}

// A decimal TCP port, 1..65535.
std::optional<std::string> port_problem(std::string_view port) {
  int number = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || number < 1 ||
      number > 65535) {
    return "expected a port in 1..65535";
  }
  return std::nullopt;
}

std::optional<std::string> uri_problem(std::string_view uri) {
  const std::string_view kShape =
      "expected scheme://host[:port] with scheme tcp, ssl, mqtt or mqtts";
  const auto sep = uri.find("://");
  if (sep == std::string_view::npos) return std::string(kShape);
  const std::string_view scheme = uri.substr(0, sep);
  if (scheme != "tcp" && scheme != "ssl" && scheme != "mqtt" && scheme != "mqtts") {
    return "expected scheme tcp, ssl, mqtt or mqtts";
  }
  std::string_view rest = uri.substr(sep + 3);
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find_first_of("/?#@ \t") != std::string_view::npos) {
    return "expected scheme://host[:port] without user, path or query";
  }
  std::string_view host;
  std::string_view port;
  bool has_port = false;
  if (!rest.empty() && rest.front() == '[') {  // IPv6 literal
    const auto close = rest.find(']');
    if (close == std::string_view::npos) return "expected ']' after the IPv6 address";
    host = rest.substr(1, close - 1);
    const std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::string(kShape);
      port = after.substr(1);
      has_port = true;
    }
  } else {
    const auto colon = rest.find(':');
    if (colon != std::string_view::npos && rest.find(':', colon + 1) != std::string_view::npos) {
      return "expected an IPv6 host in brackets, e.g. tcp://[::1]:1883";
    }
    host = rest.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = rest.substr(colon + 1);
      has_port = true;
    }
  }
  if (host.empty()) return "expected a host, e.g. tcp://127.0.0.1:1883";
  if (has_port) return port_problem(port);
  return std::nullopt;
}

// ZeroMQ endpoint of the district platform: CURVE runs over TCP here, so only tcp:// with an
// explicit port (ZeroMQ has no default port to fall back on).
std::optional<std::string> zmq_endpoint_problem(std::string_view endpoint) {
  constexpr std::string_view kShape = "expected tcp://host:port, e.g. tcp://10.50.0.8:7100";
  if (endpoint.empty()) return std::nullopt;
  if (!endpoint.starts_with("tcp://")) return std::string(kShape);
  const std::string_view rest = endpoint.substr(6);
  std::string_view host;
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {  // IPv6 literal
    const auto close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      return std::string(kShape);
    }
    host = rest.substr(1, close - 1);
    port = rest.substr(close + 2);
  } else {
    const auto colon = rest.rfind(':');
    if (colon == std::string_view::npos) return "expected a port, e.g. tcp://10.50.0.8:7100";
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return "expected an IPv6 host in brackets, e.g. tcp://[::1]:7100";
    }
  }
  if (host.empty() || host.find_first_of("/?#@ \t*;") != std::string_view::npos) {
    return std::string(kShape);
  }
  return port_problem(port);
}

// A CURVE key in Z85 (ZeroMQ RFC 32): 40 characters, every group of 5 below 2^32.
std::optional<std::string> curve_key_problem(std::string_view key) {
  constexpr std::string_view kAlphabet =
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
  if (key.empty()) return std::nullopt;
  bool ok = key.size() == 40;
  for (std::size_t i = 0; ok && i < key.size(); i += 5) {
    std::uint64_t value = 0;
    for (std::size_t j = i; j < i + 5; ++j) {
      const auto digit = kAlphabet.find(key[j]);
      if (digit == std::string_view::npos) {
        ok = false;
        break;
      }
      value = value * 85 + digit;
    }
    if (value > 0xFFFFFFFFu) ok = false;
  }
  if (ok) return std::nullopt;
  return "expected a CURVE public key: 40 characters of Z85";
}

// Issuer regions for routing: "51,52,54". Two-digit province-level codes (the first two digits
// of a citizen number), so a typo such as "5l" or "510" is caught at start.
std::optional<std::string> region_list_problem(std::string_view list) {
  constexpr std::string_view kShape =
      "expected comma-separated two-digit region codes 11..82, e.g. \"51,52,54\"";
  auto trim = [](std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
  };
  if (trim(list).empty()) return std::nullopt;
  for (;;) {
    const auto comma = list.find(',');
    const std::string_view item = trim(list.substr(0, comma));
    int code = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), code);
    if (item.size() != 2 || ec != std::errc() || end != item.data() + item.size() || code < 11 ||
        code > 82) {
      return std::string(kShape);
    }
    if (comma == std::string_view::npos) return std::nullopt;
    list = list.substr(comma + 1);
  }
}

// Base URL of the cross-province platform. Only https: the link carries personal data across
// provinces and pins the platform's CA.
std::optional<std::string> https_url_problem(std::string_view url) {
  constexpr std::string_view kShape =
      "expected https://host[:port][/path], e.g. https://10.51.0.8:8443/ykt";
  if (url.empty()) return std::nullopt;
  if (!url.starts_with("https://")) return std::string(kShape);
  std::string_view rest = url.substr(8);
  if (rest.find_first_of("?#@ \t") != std::string_view::npos) {
    return "expected https://host[:port][/path] without user, query or fragment";
  }
  const auto slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  std::string_view host = authority;
  std::string_view port;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return "expected ']' after the IPv6 address";
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::string(kShape);
      port = after.substr(1);
      has_port = true;
    }
  } else {
    const auto colon = authority.find(':');
    if (colon != std::string_view::npos) {
      if (authority.find(':', colon + 1) != std::string_view::npos) {
        return "expected an IPv6 host in brackets, e.g. https://[::1]:8443";
      }
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
      has_port = true;
    }
  }
  if (host.empty()) return std::string(kShape);
  if (has_port) return port_problem(port);
  return std::nullopt;
}

// Base URL of the card list feed. Plain http is allowed besides https: every feed carries the
// platform's SM2 signature, which the gateway checks whatever the transport.
std::optional<std::string> feed_url_problem(std::string_view url) {
  if (url.empty()) return std::nullopt;
  const std::string as_https =
      url.starts_with("http://") ? "https://" + std::string(url.substr(7)) : std::string(url);
  if (https_url_problem(as_https)) {
    return "expected http(s)://host[:port][/path] without user, query or fragment, e.g. "
           "https://10.50.0.8:8443/ykt";
  }
  return std::nullopt;
}

// host:port for a listening socket. Whether the host is loopback (and so may go without a
// token) is decided where the server starts (gateway/status/http_guard.h).
std::optional<std::string> listen_address_problem(std::string_view v) {
  if (v.empty()) return std::nullopt;
  const auto colon = v.rfind(':');
  const std::string_view host = colon == std::string_view::npos ? v : v.substr(0, colon);
  const std::string_view port = colon == std::string_view::npos ? "" : v.substr(colon + 1);
  const bool host_ok =
      !host.empty() && host.size() <= 253 &&
      host.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") ==
          std::string_view::npos;
  int p = 0;
  const bool port_ok = !port.empty() && port.size() <= 5 &&
                       port.find_first_not_of("0123456789") == std::string_view::npos &&
                       (p = std::stoi(std::string(port))) >= 1 && p <= 65535;
  if (!host_ok || !port_ok) return "expected host:port, e.g. 127.0.0.1:8080";
  return std::nullopt;
}

// True for localhost and 127.0.0.0/8, the addresses only this machine reaches.
bool loopback_listen(std::string_view listen) {
  const std::string host(listen.substr(0, listen.rfind(':')));
  std::string lower;
  for (char c : host) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "localhost") return true;
  in_addr a{};
  return inet_pton(AF_INET, host.c_str(), &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

// Why `value` is not acceptable for `spec`, as the text after "has invalid value 'x': ".
std::optional<std::string> value_problem(const KeySpec& spec, const Scalar& value) {
  if (const auto* i = std::get_if<std::int64_t>(&value)) {
    if (*i < spec.min_value || *i > spec.max_value) {
      return "expected an integer in " + std::to_string(spec.min_value) + ".." +
             std::to_string(spec.max_value);
    }
    return std::nullopt;
  }
  const auto* s = std::get_if<std::string>(&value);
  if (s == nullptr) return std::nullopt;
  if (!spec.choices.empty() &&
      std::find(spec.choices.begin(), spec.choices.end(), *s) == spec.choices.end()) {
    return "expected one of " + join(spec.choices, ", ");
  }
  switch (spec.check) {
    case StringCheck::none:
      return std::nullopt;
    case StringCheck::name:
      return name_problem(*s);
    case StringCheck::optional_name:
      return s->empty() ? std::nullopt : name_problem(*s);
    case StringCheck::mqtt_uri:
      return uri_problem(*s);
    case StringCheck::mqtt_client_id:
      if (s->find_first_of("+#/") != std::string::npos) return "expected no '+', '#' or '/'";
      return std::nullopt;
    case StringCheck::zmq_endpoint:
      return zmq_endpoint_problem(*s);
    case StringCheck::curve_key:
      return curve_key_problem(*s);
    case StringCheck::region_list:
      return region_list_problem(*s);
    case StringCheck::https_url:
      return https_url_problem(*s);
    case StringCheck::feed_url:
      return feed_url_problem(*s);
    case StringCheck::listen_address:
      return listen_address_problem(*s);
    case StringCheck::path:
      if (s->empty()) return "expected a non-empty path";
      [[fallthrough]];
    case StringCheck::optional_path:
      if (s->find('\0') != std::string::npos) return "expected a path without NUL characters";
      return std::nullopt;
  }
  return std::nullopt;
}

// ---- loading ---------------------------------------------------------------------------------

// A place in the file, ordered top to bottom.
struct Position {
  explicit Position(const toml::source_position& p) : line(p.line), column(p.column) {}
  std::uint32_t line;
  std::uint32_t column;
  auto operator<=>(const Position&) const = default;
};

std::string at(const std::string& name, const Position& pos) {
  return name + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column);
}

struct Located {
  Position pos;
  Error error;
};

// A file value that has the right type, waiting to be checked and stored in file order.
struct Assignment {
  Position pos;
  const KeySpec* spec;
  Scalar value;
};

struct Origin {
  std::string where;  // message prefix: "FILE:LINE:COL" or "--set key=value"
  int seq = 0;        // order of setting; 0 for built-in defaults
};

class Loader {
 public:
  Loader(const std::string& name, fs::path base_dir)
      : name_(name), base_dir_(std::move(base_dir)) {}

  Result<void> apply_defaults() {
    for (const KeySpec& spec : config_schema()) {
      if (spec.required) continue;
      auto value = parse_text_value(spec, spec.default_text);
      if (!value) {
        return make_error("schema", "built-in default of '" + spec.path + "' is not " +
                                        std::string(with_article(spec.type)));
      }
      if (auto r = store_value(spec, std::move(*value), "built-in default", /*seq=*/0); !r) {
        return r;
      }
    }
    return {};
  }

  Result<void> apply_document(const toml::table& doc) {
    std::vector<Located> errors;
    std::vector<Assignment> assignments;
    walk(doc, "", errors, assignments);
    // toml++ tables iterate in key order. Storing in file order makes "set last" mean what the
    // reader sees, and the problem reported is the one nearest the top of the file.
    std::stable_sort(assignments.begin(), assignments.end(),
                     [](const Assignment& a, const Assignment& b) { return a.pos < b.pos; });
    for (Assignment& a : assignments) {
      if (auto r = store_value(*a.spec, std::move(a.value), at(name_, a.pos), ++seq_); !r) {
        errors.push_back(Located{a.pos, r.error()});
      }
    }
    if (errors.empty()) return {};
    return std::min_element(errors.begin(), errors.end(),
                            [](const Located& a, const Located& b) { return a.pos < b.pos; })
        ->error;
  }

  Result<void> apply_override(std::string_view text) {
    const auto eq = text.find('=');
    if (eq == std::string_view::npos) {
      return make_error("syntax", "--set '" + shown(text) + "': expected key=value");
    }
    std::string_view key = text.substr(0, eq);
    while (!key.empty() && (key.front() == ' ' || key.front() == '\t')) key.remove_prefix(1);
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.remove_suffix(1);
    const std::string_view raw = text.substr(eq + 1);
    const KeySpec* spec = find_key_spec(key);
    if (spec == nullptr) {
      return make_error("unknown_key", "--set: unknown key '" + shown(key) + "'");
    }
    // Secrets stay out of error messages, which end up in logs.
    const std::string where =
        "--set " + std::string(key) + "=" + (spec->secret ? std::string("***") : shown(raw));
    auto value = parse_text_value(*spec, raw);
    if (!value) {
      return make_error("wrong_type", where + ": key '" + spec->path + "' must be " +
                                          std::string(with_article(spec->type)) + ", got '" +
                                          (spec->secret ? "***" : shown(raw)) + "'");
    }
    return store_value(*spec, std::move(*value), where, ++seq_);
  }

  Result<void> check_required() const {
    for (const KeySpec& spec : config_schema()) {
      if (spec.required && !origins_.contains(spec.path)) {
        return make_error("missing_key", name_ + ": missing required key '" + spec.path + "'");
      }
    }
    return {};
  }

  // Rules that tie two keys together; blamed on whichever of the two was set last, since that
  // is the value the operator most likely meant to change.
  Result<void> check_cross_keys() const {
    const MqttConfig& m = config_.mqtt;
    if (m.reconnect_max_ms < m.reconnect_min_ms) {
      if (seq_of("mqtt.reconnect_max_ms") >= seq_of("mqtt.reconnect_min_ms")) {
        return invalid(
            "mqtt.reconnect_max_ms", std::to_string(m.reconnect_max_ms),
            "expected at least mqtt.reconnect_min_ms (" + std::to_string(m.reconnect_min_ms) + ")");
      }
      return invalid(
          "mqtt.reconnect_min_ms", std::to_string(m.reconnect_min_ms),
          "expected at most mqtt.reconnect_max_ms (" + std::to_string(m.reconnect_max_ms) + ")");
    }
    if (m.tls.cert_file.empty() != m.tls.key_file.empty()) {
      const bool cert_set = !m.tls.cert_file.empty();
      const std::string set = cert_set ? "mqtt.tls.cert_file" : "mqtt.tls.key_file";
      const std::string unset = cert_set ? "mqtt.tls.key_file" : "mqtt.tls.cert_file";
      return make_error("invalid_value", origin_of(set) + ": key '" + set + "' is set but '" +
                                             unset + "' is not; set both or neither");
    }
    // Feeds are worthless unverified: a feed URL needs the key that checks them.
    if (!config_.cardlist.feed_url.empty() && config_.cardlist.platform_public_key_file.empty()) {
      return make_error("invalid_value", origin_of("cardlist.feed_url") +
                                             ": key 'cardlist.feed_url' is set but "
                                             "'cardlist.platform_public_key_file' is not; set "
                                             "both or leave the feed URL empty");
    }
    // A district link needs both halves of CURVE: blamed on the endpoint, which is what turns
    // the link on.
    const DistrictConfig& d = config_.district;
    const char* missing = d.server_public_key.empty() ? "district.server_public_key"
                          : d.client_key_file.empty() ? "district.client_key_file"
                                                      : nullptr;
    if (!d.endpoint.empty() && missing != nullptr) {
      return make_error("invalid_value", origin_of("district.endpoint") +
                                             ": key 'district.endpoint' is set but '" + missing +
                                             "' is not; set both or leave the endpoint empty");
    }
    if (d.heartbeat_timeout_ms <= d.heartbeat_interval_ms) {
      const std::string interval = std::to_string(d.heartbeat_interval_ms);
      const std::string timeout = std::to_string(d.heartbeat_timeout_ms);
      if (seq_of("district.heartbeat_timeout_ms") >= seq_of("district.heartbeat_interval_ms")) {
        return invalid("district.heartbeat_timeout_ms", timeout,
                       "expected more than district.heartbeat_interval_ms (" + interval + ")");
      }
      return invalid("district.heartbeat_interval_ms", interval,
                     "expected less than district.heartbeat_timeout_ms (" + timeout + ")");
    }
    const UpstreamConfig& u = config_.upstream;
    if (u.retry_max_ms < u.retry_min_ms) {
      if (seq_of("upstream.retry_max_ms") >= seq_of("upstream.retry_min_ms")) {
        return invalid(
            "upstream.retry_max_ms", std::to_string(u.retry_max_ms),
            "expected at least upstream.retry_min_ms (" + std::to_string(u.retry_min_ms) + ")");
      }
      return invalid(
          "upstream.retry_min_ms", std::to_string(u.retry_min_ms),
          "expected at most upstream.retry_max_ms (" + std::to_string(u.retry_max_ms) + ")");
    }
    const HttpsConfig& h = config_.https;
    if (h.client_cert_file.empty() != h.client_key_file.empty()) {
      const bool cert_set = !h.client_cert_file.empty();
      const std::string set = cert_set ? "https.client_cert_file" : "https.client_key_file";
      const std::string unset = cert_set ? "https.client_key_file" : "https.client_cert_file";
      return make_error("invalid_value", origin_of(set) + ": key '" + set + "' is set but '" +
                                             unset + "' is not; set both or neither");
    }
    // The link pins the platform's CA rather than trusting the system store: blamed on the url,
    // which is what turns the link on.
    if (!h.url.empty() && h.ca_file.empty()) {
      return make_error("invalid_value", origin_of("https.url") +
                                             ": key 'https.url' is set but 'https.ca_file' is "
                                             "not; set both or leave the url empty");
    }
    // Anyone on the network could read the status page: a bind beyond loopback needs a token.
    // The status server checks this again when it starts (gateway/status/http_guard.h).
    const StatusConfig& st = config_.status;
    if (!st.listen.empty() && st.token.empty() && !loopback_listen(st.listen)) {
      return make_error("invalid_value",
                        origin_of("status.listen") + ": key 'status.listen' is '" + st.listen +
                            "', not a loopback address, but 'status.token' is not set; set a "
                            "token or listen on 127.0.0.1");
    }
    return {};
  }

  Config take() && {
    config_.source_name = name_;
    return std::move(config_);
  }

 private:
  // Override and default text: integers in decimal, booleans true/false, strings literally
  // with one pair of surrounding double quotes removed (so key="v" works as in TOML).
  static std::optional<Scalar> parse_text_value(const KeySpec& spec, std::string_view raw) {
    switch (spec.type) {
      case KeyType::string:
        if (raw.size() >= 2 && raw.front() == '"' && raw.back() == '"') {
          raw = raw.substr(1, raw.size() - 2);
        }
        return Scalar(std::string(raw));
      case KeyType::integer: {
        std::int64_t v = 0;
        const auto [end, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), v);
        if (raw.empty() || end != raw.data() + raw.size()) return std::nullopt;
        // Digits too many for 64 bits are still an integer, just out of range: let the range
        // check say so rather than claiming a type error.
        if (ec == std::errc::result_out_of_range) {
          return Scalar(raw.front() == '-' ? std::numeric_limits<std::int64_t>::min()
                                           : std::numeric_limits<std::int64_t>::max());
        }
        if (ec != std::errc()) return std::nullopt;
        return Scalar(v);
      }
      case KeyType::boolean:
        if (raw == "true") return Scalar(true);
        if (raw == "false") return Scalar(false);
        return std::nullopt;
    }
    return std::nullopt;
  }

  static std::optional<Scalar> scalar_of(const KeySpec& spec, const toml::node& node) {
    switch (spec.type) {
      case KeyType::string:
        if (const auto* v = node.as_string()) return Scalar(v->get());
        break;
      case KeyType::integer:
        if (const auto* v = node.as_integer()) return Scalar(v->get());
        break;
      case KeyType::boolean:
        if (const auto* v = node.as_boolean()) return Scalar(v->get());
        break;
    }
    return std::nullopt;
  }

  static bool is_declared_table(std::string_view path) {
    return std::any_of(config_schema().begin(), config_schema().end(), [&](const KeySpec& s) {
      return s.path.size() > path.size() && s.path.starts_with(path) && s.path[path.size()] == '.';
    });
  }

  // A quoted key with a dot in it is one key, not a path: show it quoted so nobody mistakes
  // it for the declared key it resembles.
  static std::string child_path(const std::string& prefix, std::string_view key) {
    std::string part(key);
    if (key.empty() || key.find('.') != std::string_view::npos) part = toml_quote(key);
    return prefix.empty() ? part : prefix + "." + part;
  }

  void walk(const toml::table& table, const std::string& prefix, std::vector<Located>& errors,
            std::vector<Assignment>& assignments) const {
    for (auto&& [key, node] : table) {
      const std::string path = child_path(prefix, key.str());
      const Position key_pos(key.source().begin);
      const Position value_pos(node.source().begin);
      auto fail = [&](const Position& pos, std::string code, const std::string& what) {
        errors.push_back(Located{pos, make_error(std::move(code), at(name_, pos) + ": " + what)});
      };
      const KeySpec* spec = find_key_spec(path);
      if (const toml::table* sub = node.as_table()) {
        if (is_declared_table(path)) {
          walk(*sub, path, errors, assignments);
        } else if (spec != nullptr) {
          fail(key_pos, "wrong_type",
               "key '" + path + "' must be " + std::string(with_article(spec->type)) +
                   ", got table");
        } else {
          report_unknown(*sub, path, key_pos, errors);
        }
        continue;
      }
      if (spec == nullptr) {
        if (is_declared_table(path)) {
          fail(value_pos, "wrong_type",
               "key '" + path + "' must be a table, got " +
                   std::string(toml_type_name(node.type())));
        } else {
          fail(key_pos, "unknown_key", "unknown key '" + path + "'");
        }
        continue;
      }
      auto value = scalar_of(*spec, node);
      if (!value) {
        fail(value_pos, "wrong_type",
             "key '" + path + "' must be " + std::string(with_article(spec->type)) + ", got " +
                 std::string(toml_type_name(node.type())));
        continue;
      }
      assignments.push_back(Assignment{value_pos, spec, std::move(*value)});
    }
  }

  // Every leaf of an undeclared table is an unknown key; naming the full leaf path tells the
  // reader exactly which line to fix. An empty undeclared table is reported by itself.
  void report_unknown(const toml::table& table, const std::string& path, const Position& table_pos,
                      std::vector<Located>& errors) const {
    auto unknown = [&](const Position& pos, const std::string& what) {
      errors.push_back(
          Located{pos, make_error("unknown_key", at(name_, pos) + ": unknown key '" + what + "'")});
    };
    if (table.empty()) {
      unknown(table_pos, path);
      return;
    }
    for (auto&& [key, node] : table) {
      const std::string child = child_path(path, key.str());
      if (const toml::table* sub = node.as_table()) {
        report_unknown(*sub, child, Position(key.source().begin), errors);
      } else {
        unknown(Position(key.source().begin), child);
      }
    }
  }

  Result<void> store_value(const KeySpec& spec, Scalar value, const std::string& where, int seq) {
    if (auto problem = value_problem(spec, value)) {
      return make_error("invalid_value", where + ": key '" + spec.path + "' has invalid value '" +
                                             (spec.secret ? "***" : scalar_text(value)) +
                                             "': " + *problem);
    }
    const Binding* binding = find_binding(spec.path);
    if (binding == nullptr) {
      return make_error("schema", "key '" + spec.path + "' is declared but has no Config field");
    }
    if (spec.check == StringCheck::path || spec.check == StringCheck::optional_path) {
      auto& s = std::get<std::string>(value);
      if (!s.empty()) s = resolve(s);
    }
    if (const auto* f = std::get_if<Field<std::string>>(&binding->field)) {
      (*f)(config_) = std::get<std::string>(std::move(value));
    } else if (const auto* f = std::get_if<Field<int>>(&binding->field)) {
      const std::int64_t v = std::get<std::int64_t>(value);
      // The schema's ranges all fit an int; this guards a future range that does not.
      if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) {
        return make_error("invalid_value", where + ": key '" + spec.path + "' has invalid value '" +
                                               std::to_string(v) +
                                               "': expected an integer that fits 32 bits");
      }
      (*f)(config_) = static_cast<int>(v);
    } else {
      (*std::get<Field<bool>>(binding->field))(config_) = std::get<bool>(value);
    }
    origins_[spec.path] = Origin{where, seq};
    if (seq != 0) {
      config_.key_origins[spec.path] = where.starts_with("--set ") ? "--set " + spec.path : where;
    }
    return {};
  }

  std::string resolve(const std::string& p) const {
    const fs::path path(p);
    return (path.is_absolute() ? path : base_dir_ / path).lexically_normal().string();
  }

  int seq_of(const std::string& key) const {
    const auto it = origins_.find(key);
    return it == origins_.end() ? 0 : it->second.seq;
  }

  std::string origin_of(const std::string& key) const {
    const auto it = origins_.find(key);
    if (it == origins_.end() || it->second.seq == 0) return name_;
    return it->second.where;
  }

  Error invalid(const std::string& key, const std::string& value, const std::string& why) const {
    return make_error("invalid_value", origin_of(key) + ": key '" + key + "' has invalid value '" +
                                           value + "': " + why);
  }

  const std::string& name_;
  fs::path base_dir_;
  Config config_;
  std::map<std::string, Origin, std::less<>> origins_;  // only keys set by file or --set count
  int seq_ = 0;
};

}  // namespace

Result<Config> parse_config(const std::string& text, const std::string& name,
                            const std::vector<std::string>& overrides,
                            const std::string& base_dir) {
  std::error_code ec;
  const fs::path base = fs::absolute(base_dir, ec);
  if (ec) {
    return make_error("io",
                      name + ": cannot resolve directory '" + base_dir + "': " + ec.message());
  }
  Loader loader(name, base.lexically_normal());
  if (auto r = loader.apply_defaults(); !r) return r.error();

  toml::table doc;
  try {
    doc = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    return make_error("syntax",
                      at(name, Position(e.source().begin)) + ": " + std::string(e.description()));
  } catch (const std::exception& e) {  // allocation failure and the like; never escape
    return make_error("syntax", name + ": " + e.what());
  }
  if (auto r = loader.apply_document(doc); !r) return r.error();
  for (const std::string& o : overrides) {
    if (auto r = loader.apply_override(o); !r) return r.error();
  }
  if (auto r = loader.check_required(); !r) return r.error();
  if (auto r = loader.check_cross_keys(); !r) return r.error();
  return std::move(loader).take();
}

Result<Config> load_config(const std::string& path, const std::vector<std::string>& overrides) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return make_error("io", path + ": is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("io", path + ": cannot open: " + std::strerror(errno));
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return make_error("io", path + ": cannot read: " + std::strerror(errno));

  const fs::path file = fs::absolute(path, ec).lexically_normal();
  if (ec) return make_error("io", path + ": cannot resolve path: " + ec.message());
  auto config = parse_config(buf.str(), path, overrides, file.parent_path().string());
  if (config) config->source_file = file.string();
  return config;
}

Result<std::string> config_value_text(const Config& config, std::string_view path) {
  const Binding* binding = find_binding(path);
  if (binding == nullptr) {
    return make_error("unknown_key", "unknown key '" + std::string(path) + "'");
  }
  // The accessors only select a member; nothing is written through the cast.
  Config& c = const_cast<Config&>(config);  // NOLINT(cppcoreguidelines-pro-type-const-cast)
  return std::visit(
      [&](auto field) -> std::string {
        const auto& v = field(c);
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, std::string>) {
          return toml_quote(v);
        } else if constexpr (std::is_same_v<V, bool>) {
          return v ? "true" : "false";
        } else {
          return std::to_string(v);
        }
      },
      binding->field);
}

const std::string* config_string(const Config& config, std::string_view path) {
  const Binding* binding = find_binding(path);
  if (binding == nullptr) return nullptr;
  const auto* field = std::get_if<Field<std::string>>(&binding->field);
  if (field == nullptr) return nullptr;
  // The accessor only selects a member; nothing is written through the cast.
  return &(*field)(const_cast<Config&>(config));  // NOLINT(cppcoreguidelines-pro-type-const-cast)
}

std::string key_context(const Config& config, std::string_view key) {
  const std::string quoted_key = "key '" + std::string(key) + "'";
  if (const auto it = config.key_origins.find(key); it != config.key_origins.end()) {
    return it->second + ": " + quoted_key;
  }
  const std::string& file = config.source_name.empty() ? config.source_file : config.source_name;
  return (file.empty() ? std::string("built-in defaults") : file) + ": " + quoted_key +
         " (default)";
}

Error in_key(const Config& config, std::string_view key, const Error& error) {
  return make_error(error.code, key_context(config, key) + ": " + error.message);
}

std::vector<std::string> keys_needing_restart(const Config& before, const Config& after) {
  std::vector<std::string> keys;
  for (const KeySpec& spec : config_schema()) {
    if (spec.reloadable) continue;
    const auto a = config_value_text(before, spec.path);
    const auto b = config_value_text(after, spec.path);
    if (!a || !b || *a != *b) keys.push_back(spec.path);
  }
  return keys;
}

}  // namespace yktgw
