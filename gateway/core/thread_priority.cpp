#include "gateway/core/thread_priority.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace yktgw {

Result<void> lower_this_thread_priority(int nice) {
  if (nice <= 0) return {};
  if (nice > 19) nice = 19;
  // On Linux PRIO_PROCESS with a thread id sets that one thread's nice value.
  if (setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), nice) != 0) {
    return make_error("thread_priority",
                      "cannot set nice " + std::to_string(nice) + ": " + std::strerror(errno));
  }
  return {};
}

}  // namespace yktgw
