#pragma once
// A fresh directory under the system's temporary directory for one test, removed with what is
// in it when the test is done.

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <system_error>

namespace yktgw::testing {

class TempDir {
 public:
  // yktgw-<tag>-<pid>-<n>. Emptied first: a process of the same pid may have left it behind.
  explicit TempDir(const std::string& tag = "test") {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("yktgw-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

  // Writes `text` to `name` (sub-directories created) with permission bits `mode`; returns its
  // path. Throws when the file cannot be written.
  std::string write(const std::string& name, const std::string& text, mode_t mode = 0600) const {
    const std::filesystem::path p = path_ / name;
    std::filesystem::create_directories(p.parent_path());
    {
      std::ofstream out(p, std::ios::binary);
      out << text;
      if (!out) throw std::runtime_error("cannot write " + p.string());
    }
    if (::chmod(p.c_str(), mode) != 0) throw std::runtime_error("cannot chmod " + p.string());
    return p.string();
  }

  // What `name` holds; empty when it cannot be read.
  std::string read(const std::string& name) const {
    std::ifstream in(path_ / name, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

 private:
  std::filesystem::path path_;
};

}  // namespace yktgw::testing
