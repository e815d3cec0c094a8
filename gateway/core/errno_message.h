#pragma once
// The text of the current errno, for messages such as "cannot read 'x': No such file or
// directory". std::error_code rather than strerror(), whose buffer other threads may share.

#include <cerrno>
#include <string>
#include <system_error>

namespace yktgw {

// Call right after the failing call, before anything else can set errno.
inline std::string errno_message() {
  return std::error_code(errno, std::generic_category()).message();
}

}  // namespace yktgw
