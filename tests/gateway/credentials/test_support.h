#pragma once
// Helpers shared by the credential tests: temporary directories, the openssl CLI, fixed times.

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/common/temp_dir.h"

namespace yktgw::testing {

namespace fs = std::filesystem;

// 2025-11-29 12:00 in China (04:00 UTC): "today" for birth-date checks is 2025-11-29.
inline constexpr std::int64_t kNowMs = 1'764'388'800'000;

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs a shell command; its exit status (-1 when it could not run).
inline int run(const std::string& command) {
  const int status = std::system((command + " >/dev/null 2>&1").c_str());
  if (status == -1 || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

inline bool have_openssl_cli() { return run("openssl version") == 0; }

}  // namespace yktgw::testing
