#pragma once
// What every benchmark prints: lines `name value unit baseline ratio`, and the same as JSON with
// the load average at the moment each figure was taken (this machine's two cores are shared).

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace yktgw::bench {

inline std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

class BenchReport {
 public:
  explicit BenchReport(int name_width = 40) : name_width_(name_width) {}

  void line(const std::string& name, double value, const std::string& unit,
            std::optional<double> baseline = std::nullopt) {
    nlohmann::json j{{"name", name}, {"value", value}, {"unit", unit}, {"loadavg", loadavg()}};
    char base[32] = "-";
    char ratio[32] = "-";
    if (baseline && *baseline != 0) {
      std::snprintf(base, sizeof base, "%.4g", *baseline);
      std::snprintf(ratio, sizeof ratio, "%.3f", value / *baseline);
      j["baseline"] = *baseline;
      j["ratio"] = value / *baseline;
    }
    std::printf("%-*s %12.4g %-12s %12s %8s\n", name_width_, name.c_str(), value, unit.c_str(),
                base, ratio);
    std::fflush(stdout);
    figures_.push_back(std::move(j));
  }
  void note(const std::string& text) {
    std::printf("# %s\n", text.c_str());
    std::fflush(stdout);
    notes_.push_back(text);
  }
  void section(const std::string& title) { note(title + " (loadavg " + loadavg() + ")"); }

  // {"bench": name, "figures": [...], "notes": [...]} plus whatever the caller adds.
  nlohmann::json json(const std::string& bench) const {
    return nlohmann::json{{"bench", bench}, {"figures", figures_}, {"notes", notes_}};
  }

 private:
  int name_width_;
  nlohmann::json figures_ = nlohmann::json::array();
  nlohmann::json notes_ = nlohmann::json::array();
};

}  // namespace yktgw::bench
