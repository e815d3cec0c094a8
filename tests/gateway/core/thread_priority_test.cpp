#include "gateway/core/thread_priority.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>

namespace yktgw {
namespace {

int nice_of(pid_t tid) {
  errno = 0;
  return getpriority(PRIO_PROCESS, static_cast<id_t>(tid));
}

TEST(ThreadPriority, LowersOnlyTheCallingThread) {
  const pid_t main_tid = gettid();
  const int before = nice_of(main_tid);
  // Never below what the process already has: raising priority back would need privilege.
  const int target = std::max(before, 7);
  int seen = -100;
  bool ok = false;
  std::thread t([&] {
    ok = lower_this_thread_priority(target).ok();
    seen = nice_of(gettid());
  });
  t.join();
  EXPECT_TRUE(ok);
  EXPECT_EQ(seen, target);
  EXPECT_EQ(nice_of(main_tid), before);
}

TEST(ThreadPriority, ZeroLeavesTheThreadAsItIs) {
  int before = -100, after = -100;
  std::thread t([&] {
    before = nice_of(gettid());
    EXPECT_TRUE(lower_this_thread_priority(0).ok());
    after = nice_of(gettid());
  });
  t.join();
  EXPECT_EQ(after, before);
}

}  // namespace
}  // namespace yktgw
