#include "gateway/app/logging.h"

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <vector>

namespace yktgw {

void Loggers::set_level(const std::string& level) const {
  const auto lvl = spdlog::level::from_str(level);
  for (const auto& l : {main, mqtt, ingest, store, cardlist, policy, district, forward, status})
    if (l) l->set_level(lvl);
}

void Loggers::flush() const {
  for (const auto& l : {main, mqtt, ingest, store, cardlist, policy, district, forward, status})
    if (l) l->flush();
}

Result<Loggers> make_loggers(const LogConfig& cfg, const std::string& log_dir) {
  std::vector<spdlog::sink_ptr> sinks;
  if (cfg.console) sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  if (!log_dir.empty()) {
    try {
      sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
          log_dir + "/yktgw.log", static_cast<std::size_t>(cfg.file_max_bytes),
          static_cast<std::size_t>(cfg.file_count)));
    } catch (const spdlog::spdlog_ex& e) {
      return make_error("log", "cannot open log file in '" + log_dir + "': " + e.what());
    }
  }
  auto make = [&](const char* name) {
    auto l = std::make_shared<spdlog::logger>(name, sinks.begin(), sinks.end());
    // Times in the log are UTC, like every time the gateway records.
    l->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %n %v", spdlog::pattern_time_type::utc);
    l->set_level(spdlog::level::from_str(cfg.level));
    l->flush_on(spdlog::level::warn);
    return l;
  };
  Loggers out{make("main"),   make("mqtt"),     make("ingest"),  make("store"), make("cardlist"),
              make("policy"), make("district"), make("forward"), make("status")};
  return out;
}

}  // namespace yktgw
