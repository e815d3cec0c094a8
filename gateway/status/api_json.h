#pragma once
// The JSON bodies of /api/v1/* (docs/status-api.md). Times are UTC milliseconds; the pages
// show them in Asia/Shanghai.

#include <string>
#include <vector>

#include "gateway/status/depth.h"
#include "gateway/status/series.h"
#include "gateway/status/status_source.h"

namespace yktgw::status {

std::string status_json(const StatusSnapshot& s);
std::string terminals_json(const std::vector<TerminalView>& terminals, UtcMillis now_ms);
std::string outbox_json(const StatusSnapshot& s, const std::vector<DeadLetterView>& letters,
                        const std::string& dead_letter_error);
std::string depth_json(const DepthReport& r, UtcMillis generated_ms);
std::string series_json(const std::vector<SeriesSample>& samples);

}  // namespace yktgw::status
