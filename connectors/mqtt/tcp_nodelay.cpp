#include "connectors/mqtt/tcp_nodelay.h"

#include <dirent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

namespace yktgw::mqtt {
namespace {

struct HostPort {
  std::string host;
  std::string port;
};

HostPort split_uri(const std::string& uri) {
  std::string_view rest = uri;
  std::string default_port = "1883";
  if (auto p = rest.find("://"); p != std::string_view::npos) {
    std::string_view scheme = rest.substr(0, p);
    if (scheme == "ssl" || scheme == "mqtts" || scheme == "wss") default_port = "8883";
    rest.remove_prefix(p + 3);
  }
  if (auto slash = rest.find('/'); slash != std::string_view::npos) rest = rest.substr(0, slash);
  if (!rest.empty() && rest.front() == '[') {  // [v6]:port
    auto close = rest.find(']');
    std::string host(rest.substr(1, close == std::string_view::npos ? rest.size() - 1 : close - 1));
    std::string port = default_port;
    if (close != std::string_view::npos && close + 1 < rest.size() && rest[close + 1] == ':')
      port = std::string(rest.substr(close + 2));
    return {host, port};
  }
  if (auto colon = rest.rfind(':'); colon != std::string_view::npos)
    return {std::string(rest.substr(0, colon)), std::string(rest.substr(colon + 1))};
  return {std::string(rest), default_port};
}

bool same_endpoint(const sockaddr_storage& a, const sockaddr* b) {
  if (a.ss_family != b->sa_family) return false;
  if (a.ss_family == AF_INET) {
    const auto* x = reinterpret_cast<const sockaddr_in*>(&a);
    const auto* y = reinterpret_cast<const sockaddr_in*>(b);
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  if (a.ss_family == AF_INET6) {
    const auto* x = reinterpret_cast<const sockaddr_in6*>(&a);
    const auto* y = reinterpret_cast<const sockaddr_in6*>(b);
    return x->sin6_port == y->sin6_port &&
           std::memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(in6_addr)) == 0;
  }
  return false;
}

}  // namespace

int set_tcp_nodelay_to_broker(const std::string& uri) {
  HostPort hp = split_uri(uri);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* resolved = nullptr;
  if (getaddrinfo(hp.host.c_str(), hp.port.c_str(), &hints, &resolved) != 0) return 0;

  int count = 0;
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (dirent* entry = readdir(dir)) {
      char* end = nullptr;
      long fd = std::strtol(entry->d_name, &end, 10);
      if (end == entry->d_name || *end != '\0' || fd == dirfd(dir)) continue;
      struct stat st {};
      if (fstat(static_cast<int>(fd), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
      sockaddr_storage peer{};
      socklen_t len = sizeof(peer);
      if (getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&peer), &len) != 0)
        continue;
      for (addrinfo* ai = resolved; ai != nullptr; ai = ai->ai_next) {
        if (!same_endpoint(peer, ai->ai_addr)) continue;
        int one = 1;
        if (setsockopt(static_cast<int>(fd), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0)
          ++count;
        break;
      }
    }
    closedir(dir);
  }
  freeaddrinfo(resolved);
  return count;
}

}  // namespace yktgw::mqtt
