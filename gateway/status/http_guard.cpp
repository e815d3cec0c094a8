#include "gateway/status/http_guard.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <optional>

namespace yktgw::status {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::optional<int> parse_port(std::string_view s) {
  if (s.empty() || s.size() > 5 ||
      !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  const int p = std::stoi(std::string(s));
  if (p < 1 || p > 65535) return std::nullopt;
  return p;
}

}  // namespace

Result<ListenAddress> parse_listen(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0)
    return make_error("config", "status.listen '" + std::string(text) +
                                    "' is not host:port, e.g. 127.0.0.1:8080");
  auto port = parse_port(text.substr(colon + 1));
  if (!port)
    return make_error("config",
                      "status.listen '" + std::string(text) + "' has no valid port (1..65535)");
  return ListenAddress{std::string(text.substr(0, colon)), *port};
}

bool is_loopback(std::string_view host) {
  if (iequals(host, "localhost") || host == "::1" || host == "[::1]") return true;
  in_addr a{};
  if (inet_pton(AF_INET, std::string(host).c_str(), &a) == 1) return (ntohl(a.s_addr) >> 24) == 127;
  return false;
}

bool is_wildcard(std::string_view host) {
  return host == "0.0.0.0" || host == "::" || host == "[::]";
}

Result<void> check_bind(const ListenAddress& listen, std::string_view token) {
  if (is_loopback(listen.host) || !token.empty()) return {};
  return make_error("config", "status.listen=" + listen.host + ":" + std::to_string(listen.port) +
                                  " is not a loopback address: set status.token (a bearer token "
                                  "for the status page and API) or listen on 127.0.0.1");
}

bool host_allowed(std::string_view header, const ListenAddress& listen) {
  if (header.empty() || header.size() > 255) return false;
  std::string_view name = header;
  std::optional<int> port;
  if (header.front() == '[') {  // [v6]:port
    const auto close = header.find(']');
    if (close == std::string_view::npos) return false;
    name = header.substr(0, close + 1);
    const auto rest = header.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = parse_port(rest.substr(1));
      if (!port) return false;
    }
  } else if (const auto colon = header.rfind(':'); colon != std::string_view::npos) {
    name = header.substr(0, colon);
    port = parse_port(header.substr(colon + 1));
    if (!port) return false;
  }
  if (port ? *port != listen.port : listen.port != 80) return false;
  if (name.empty()) return false;
  if (is_wildcard(listen.host)) return true;
  if (iequals(name, listen.host)) return true;
  if (is_loopback(listen.host))
    return iequals(name, "localhost") || name == "127.0.0.1" || name == "[::1]";
  return false;
}

bool bearer_ok(std::string_view authorization, std::string_view token) {
  if (token.empty()) return true;
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() < kScheme.size() ||
      !iequals(authorization.substr(0, kScheme.size()), kScheme))
    return false;
  std::string_view given = authorization.substr(kScheme.size());
  while (!given.empty() && given.front() == ' ') given.remove_prefix(1);
  // Length is not secret; the content is compared without an early exit.
  unsigned diff = given.size() == token.size() ? 0U : 1U;
  for (std::size_t i = 0; i < token.size(); ++i) {
    const char g = i < given.size() ? given[i] : '\0';
    diff |=
        static_cast<unsigned>(static_cast<unsigned char>(g) ^ static_cast<unsigned char>(token[i]));
  }
  return diff == 0;
}

}  // namespace yktgw::status
