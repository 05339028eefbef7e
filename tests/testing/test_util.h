// File: test_util.h
//
// What most tests need: status matchers (StatusIs, QUANTD_ASSERT_OK), deterministic random
// tensors (random_tensors.h), and encoding a matrix with a named method.
#ifndef QUANTD_TESTS_TESTING_TEST_UTIL_H_
#define QUANTD_TESTS_TESTING_TEST_UTIL_H_

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "quantd/core/quantize.h"
#include "quantd/core/status.h"
#include "tests/testing/random_tensors.h"

namespace quantd::testing {

// Matches a Status (or StatusOr) whose code is `code` and whose message contains `substr`.
MATCHER_P2(StatusIs, code, substr, "") {
  const quantd::Status& s = [&]() -> const quantd::Status& {
    if constexpr (std::is_same_v<std::decay_t<decltype(arg)>, quantd::Status>) {
      return arg;
    } else {
      return arg.status();
    }
  }();
  if (s.code() != code) {
    *result_listener << "status is " << s.ToString();
    return false;
  }
  if (s.message().find(substr) == std::string::npos) {
    *result_listener << "message '" << s.message() << "' lacks '" << substr << "'";
    return false;
  }
  return true;
}

#define QUANTD_ASSERT_OK(expr)                                               \
  do {                                                                       \
    const auto quantd_s_ = (expr);                                         \
    ASSERT_TRUE(quantd_s_.ok()) << ::quantd::testing::StatusText(quantd_s_); \
  } while (0)
#define QUANTD_EXPECT_OK(expr)                                               \
  do {                                                                       \
    const auto quantd_s_ = (expr);                                         \
    EXPECT_TRUE(quantd_s_.ok()) << ::quantd::testing::StatusText(quantd_s_); \
  } while (0)

inline std::string StatusText(const quantd::Status& s) { return s.ToString(); }
template <typename T>
std::string StatusText(const quantd::StatusOr<T>& s) {
  return s.status().ToString();
}

// Encodes `w` (rows x cols, the whole of a 2-D tensor "w") with `method`.
inline StatusOr<Encoding> EncodeMatrix(std::string_view method, const std::vector<float>& w, int64_t rows,
                                       int64_t cols, const Params& p, const Calibration* cal = nullptr) {
  const std::vector<int64_t> shape = {rows, cols};
  Chunk b{.tensor_name = "w", .shape = shape, .rows = rows, .cols = cols, .data = w, .calibration = cal};
  return EncodeRows(b, method, p);
}

// The same, failing the test (and returning an empty encoding) on error.
inline Encoding MustEncodeMatrix(std::string_view method, const std::vector<float>& w, int64_t rows,
                                 int64_t cols, const Params& p, const Calibration* cal = nullptr) {
  auto e = EncodeMatrix(method, w, rows, cols, p, cal);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? *e : Encoding{};
}

}  // namespace quantd::testing

#endif  // QUANTD_TESTS_TESTING_TEST_UTIL_H_
