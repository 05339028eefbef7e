// Locations the client tests need: the shared real-data folder, the built binaries, and a fresh
// temporary folder per test.
#ifndef QUANTD_TESTS_CLIENT_TEST_PATHS_H_
#define QUANTD_TESTS_CLIENT_TEST_PATHS_H_

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace quantd::testing {

// The real-data folder: $QUANTD_DATA_DIR, else ../shared/data beside the source tree.
inline std::string DataDir() {
  if (const char* env = std::getenv("QUANTD_DATA_DIR")) return env;
  return QUANTD_DEFAULT_DATA_DIR;
}

// Path of a file under the data folder; fails the test (it does not skip) when absent, since CI
// provides the folder and a silently skipped real-data test would hide regressions.
inline std::string DataFile(const std::string& rel) {
  const std::string p = DataDir() + "/" + rel;
  if (!std::filesystem::exists(p)) {
    ADD_FAILURE() << "real data file " << p << " is missing; set QUANTD_DATA_DIR to the shared data folder";
  }
  return p;
}

inline std::string QuantctlPath() { return QUANTD_QUANTCTL_PATH; }

// A fresh, empty folder for one test, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string(info->test_suite_name()) + "." + info->name();
    for (char& c : name) c = (c == '/') ? '_' : c;
    path_ = std::filesystem::temp_directory_path() / ("quantd-test-" + std::to_string(::getpid()) + "-" + name);
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string operator/(const std::string& rel) const { return (path_ / rel).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace quantd::testing

#endif  // QUANTD_TESTS_CLIENT_TEST_PATHS_H_
