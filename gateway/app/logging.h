#pragma once
// One named spdlog logger per component, all writing to the console and to a rotating file in
// the data directory. Fields are key=value.

#include <memory>
#include <string>

#include "gateway/config/config.h"

namespace spdlog {
class logger;
}

namespace yktgw {

struct Loggers {
  std::shared_ptr<spdlog::logger> main;
  std::shared_ptr<spdlog::logger> mqtt;
  std::shared_ptr<spdlog::logger> ingest;
  std::shared_ptr<spdlog::logger> store;
  std::shared_ptr<spdlog::logger> cardlist;
  std::shared_ptr<spdlog::logger> policy;
  std::shared_ptr<spdlog::logger> district;
  std::shared_ptr<spdlog::logger> forward;
  std::shared_ptr<spdlog::logger> status;

  void set_level(const std::string& level) const;
  void flush() const;
};

// `log_dir` empty: console only (for command-line tools).
Result<Loggers> make_loggers(const LogConfig& cfg, const std::string& log_dir);

}  // namespace yktgw
