#pragma once
// /metrics: the snapshot in the Prometheus text exposition format (version 0.0.4). Names and
// labels are stable (docs/status-api.md lists them); labels carry destinations, reason codes
// and states only, never card or holder data.

#include <string>
#include <string_view>

#include "gateway/status/status_source.h"

namespace yktgw::status {

// A label value with \, " and newline escaped.
std::string escape_label_value(std::string_view v);

std::string format_metrics(const StatusSnapshot& s);

}  // namespace yktgw::status
