#pragma once
// The pages, scripts and styles, embedded at build time from gateway/status/web/ so the binary
// serves them from the build tree and from an install alike.

#include <string_view>

namespace yktgw::status {

struct Asset {
  std::string_view path;  // e.g. "/terminals.html"
  std::string_view content_type;
  std::string_view body;
};

// nullptr when there is no such asset.
const Asset* find_asset(std::string_view path);

}  // namespace yktgw::status
