#pragma once
// The checks every status request passes before a handler sees it, as pure functions: where the
// server may listen, which Host headers it answers (DNS rebinding) and the bearer token.

#include <string>
#include <string_view>

#include "gateway/core/result.h"

namespace yktgw::status {

struct ListenAddress {
  std::string host;
  int port = 0;
  bool operator==(const ListenAddress&) const = default;
};

// "127.0.0.1:8080" -> {127.0.0.1, 8080}. Error "config" for anything else.
Result<ListenAddress> parse_listen(std::string_view text);

// 127.0.0.0/8, ::1 and "localhost".
bool is_loopback(std::string_view host);
// 0.0.0.0 and :: (every interface).
bool is_wildcard(std::string_view host);

// A non-loopback bind without a token is refused: anyone on the network could read the page.
Result<void> check_bind(const ListenAddress& listen, std::string_view token);

// The Host header a browser sends must name this server, or a page on another origin could
// have resolved its own name to us (DNS rebinding). Accepted: the configured host with the
// port (the port may be left out only when it is 80); for a loopback bind also localhost,
// 127.0.0.1 and [::1]; for a wildcard bind any host with the right port (the token, required
// there, is what protects it).
bool host_allowed(std::string_view host_header, const ListenAddress& listen);

// True when `token` is empty (none configured) or `authorization` is "Bearer <token>" (scheme
// case-insensitive). The comparison takes the same time wherever the first difference is.
bool bearer_ok(std::string_view authorization, std::string_view token);

}  // namespace yktgw::status
