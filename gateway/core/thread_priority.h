#pragma once

#include "gateway/core/result.h"

namespace yktgw {

// Gives the calling thread (not the whole process) a nice value of `nice` (0..19), so that
// background work such as forwarding a backlog takes only the CPU that answering terminals
// leaves. Raising a thread's nice value needs no privilege. 0 leaves the thread as it is.
Result<void> lower_this_thread_priority(int nice);

}  // namespace yktgw
