#pragma once
// The engine counters the status tests feed to the JSON API and the metrics page.

#include "gateway/status/status_source.h"

namespace yktgw::testing {

// Each online outcome, and each counter beside it, a value of its own, so a test can tell which
// field a figure came from; decisions, approved and declined match the auth counters of
// metrics_test.cpp's snapshot.
inline status::EngineView engine_counters() {
  return status::EngineView{.decisions = 12,
                            .approved = 9,
                            .declined = 3,
                            .online_asked = 6,
                            .online_answered = 3,
                            .online_timeout = 2,
                            .online_link_down = 4,
                            .online_error = 1,
                            .offline_decided = 7,
                            .pool_busy = 5,
                            .attendance_stored = 11,
                            .attendance_failed = 1,
                            .attendance_refused_quota = 4};
}

}  // namespace yktgw::testing
