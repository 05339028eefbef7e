// File: files.h
//
// Files for tests: paths under the shared real-data folder (failing the test when absent), and
// a fresh temporary folder per test.
#ifndef QUANTD_TESTS_TESTING_FILES_H_
#define QUANTD_TESTS_TESTING_FILES_H_

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "tests/testing/real_weights.h"

namespace quantd::testing {

// Path of a file under the data folder; fails the test (it does not skip) when absent, since CI
// provides the folder and a silently skipped real-data test would hide regressions.
inline std::string DataFile(const std::string& rel) {
  const std::string p = RealDataDir() + "/" + rel;
  if (!std::filesystem::exists(p)) {
    ADD_FAILURE() << "real data file " << p << " is missing; set QUANTD_DATA_DIR to the shared data folder";
  }
  return p;
}

// A fresh, empty folder for one test, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string(info->test_suite_name()) + "." + info->name();
    for (char& c : name) c = (c == '/') ? '_' : c;
    path_ =
        std::filesystem::temp_directory_path() / ("quantd-test-" + std::to_string(::getpid()) + "-" + name);
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

#endif  // QUANTD_TESTS_TESTING_FILES_H_
