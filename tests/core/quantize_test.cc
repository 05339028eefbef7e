#include "quantd/core/quantize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/common/metrics_internal.h"
#include "quantd/core/encoding.h"
#include "quantd/core/method.h"
#include "quantd/core/metrics.h"
#include "tests/testing/test_util.h"

namespace quantd {
namespace {

using ::quantd::testing::StatusIs;

TEST(QuantizeTest, MatrixShapes) {
  EXPECT_EQ(MatrixShapeOf(std::vector<int64_t>{4, 5, 6})->rows, 20);
  EXPECT_EQ(MatrixShapeOf(std::vector<int64_t>{4, 5, 6})->cols, 6);
  EXPECT_EQ(MatrixShapeOf(std::vector<int64_t>{7})->rows, 1);
  EXPECT_EQ(MatrixShapeOf(std::vector<int64_t>{7})->cols, 7);
  EXPECT_EQ(MatrixShapeOf(std::vector<int64_t>{})->num_elements(), 1);
  EXPECT_THAT(MatrixShapeOf(std::vector<int64_t>{-1, 4}), StatusIs(StatusCode::kInvalidArgument, "negative"));
  EXPECT_THAT(MatrixShapeOf(std::vector<int64_t>{1 << 30, 1 << 30, 1 << 30}),
              StatusIs(StatusCode::kInvalidArgument, "more than 2^40"));
  EXPECT_THAT(MatrixShapeOf(std::vector<int64_t>{std::numeric_limits<int64_t>::max(), 2}),
              StatusIs(StatusCode::kInvalidArgument, "more than 2^40"));
}

TEST(QuantizeTest, ValidatesBlocks) {
  std::vector<float> w(12, 0.5f);
  std::vector<int64_t> shape = {4, 3};
  Chunk b{.tensor_name = "x", .shape = shape, .row_begin = 0, .rows = 4, .cols = 3, .data = w};
  QUANTD_EXPECT_OK(ValidateChunk(b));
  Chunk wrong_cols = b;
  wrong_cols.cols = 4;
  EXPECT_THAT(ValidateChunk(wrong_cols), StatusIs(StatusCode::kInvalidArgument, "row length 4"));
  Chunk outside = b;
  outside.row_begin = 2;
  EXPECT_THAT(ValidateChunk(outside), StatusIs(StatusCode::kInvalidArgument, "rows 2..6 lie outside"));
  Chunk short_data = b;
  short_data.data = std::span<const float>(w.data(), 11);
  EXPECT_THAT(ValidateChunk(short_data), StatusIs(StatusCode::kInvalidArgument, "11 values"));
  std::vector<float> bad = w;
  bad[7] = std::numeric_limits<float>::quiet_NaN();
  Chunk nan = b;
  nan.data = bad;
  EXPECT_THAT(ValidateChunk(nan),
              StatusIs(StatusCode::kInvalidArgument, "non-finite value nan at row 2, column 1"));
  bad[7] = std::numeric_limits<float>::infinity();
  EXPECT_THAT(EncodeRows(nan, "rtn", {}), StatusIs(StatusCode::kInvalidArgument, "non-finite value inf"));
  Calibration cal;
  const std::vector<float> two = {1, 2};
  const std::vector<float> eight(8, 1.0f);
  cal.column_max = two;
  Chunk with_cal = b;
  with_cal.calibration = &cal;
  EXPECT_THAT(ValidateChunk(with_cal), StatusIs(StatusCode::kInvalidArgument, "column_max has 2 values"));
  cal.column_max = {};
  cal.hessian = eight;
  EXPECT_THAT(ValidateChunk(with_cal), StatusIs(StatusCode::kInvalidArgument, "hessian has 8 values"));
}

TEST(QuantizeTest, EncodingHeaderIsFilled) {
  auto w = testing::Gaussian(6 * 8, 3);
  std::vector<int64_t> shape = {2, 3, 8};
  Chunk b{.tensor_name = "x",
          .shape = shape,
          .source_dtype = DType::kBF16,
          .row_begin = 2,
          .rows = 3,
          .cols = 8,
          .data = std::span<const float>(w.data(), 24)};
  auto e = EncodeRows(b, "rtn", {{"bits", "8"}});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->method, "rtn");
  EXPECT_EQ(e->params.ToString(), "bits=8,group_size=128,scale_dtype=f16");
  EXPECT_EQ(e->shape, shape);
  EXPECT_EQ(e->source_dtype, DType::kBF16);
  EXPECT_EQ(e->row_begin, 2);
  EXPECT_EQ(e->row_end, 5);
  EXPECT_EQ(e->cols, 8);
}

TEST(QuantizeTest, MetricsFromKnownErrors) {
  const std::vector<float> x = {1, 2, 3, 4};
  const std::vector<float> y = {1, 2, 3, 5};
  ErrorSums s = ComputeErrorSums(x, y);
  Metrics m = MetricsFromSums(s, 4.5);
  EXPECT_EQ(m.count, 4);
  EXPECT_DOUBLE_EQ(m.mse, 0.25);
  EXPECT_DOUBLE_EQ(m.relative_error, std::sqrt(1.0 / 30));
  EXPECT_DOUBLE_EQ(m.sqnr_db, 10 * std::log10(30.0));
  EXPECT_DOUBLE_EQ(m.max_abs_error, 1.0);
  EXPECT_EQ(m.bits_per_weight, 4.5);
  Metrics exact = MetricsFromSums(ComputeErrorSums(x, x), 8);
  EXPECT_TRUE(std::isinf(exact.sqnr_db));
  EXPECT_EQ(exact.relative_error, 0);
  // Sums of parts equal the sums of the whole.
  ErrorSums a = ComputeErrorSums(std::span(x).first(2), std::span(y).first(2));
  a.Add(ComputeErrorSums(std::span(x).last(2), std::span(y).last(2)));
  EXPECT_EQ(a.signal_energy, s.signal_energy);
  EXPECT_EQ(a.error_energy, s.error_energy);
}

// The lane sums, in every instruction-set variant this CPU runs: the exact lane order (element i in lane i %
// 8 for whole blocks of eight, then the tail one by one), checked against a plain loop written in that order,
// on lengths around the block size; the maximum is exact. Integers small enough to sum exactly pin the values
// too.
TEST(QuantizeTest, ErrorSumsFollowTheirDocumentedOrder) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{8}, size_t{9}, size_t{1003}}) {
    auto x = testing::Gaussian(n, 3 + n, 1.0f);
    auto y = testing::Gaussian(n, 4 + n, 1.0f);
    double lane_sig[8] = {}, lane_err[8] = {}, mx = 0;
    const size_t whole = n / 8 * 8;
    for (size_t i = 0; i < whole; ++i) {
      const double e = static_cast<double>(x[i]) - y[i];
      lane_sig[i % 8] += static_cast<double>(x[i]) * x[i];
      lane_err[i % 8] += e * e;
    }
    double sig = 0, err = 0;
    for (int k = 0; k < 8; ++k) {
      sig += lane_sig[k];
      err += lane_err[k];
    }
    for (size_t i = whole; i < n; ++i) {
      const double e = static_cast<double>(x[i]) - y[i];
      sig += static_cast<double>(x[i]) * x[i];
      err += e * e;
    }
    for (size_t i = 0; i < n; ++i) mx = std::max(mx, std::fabs(static_cast<double>(x[i]) - y[i]));
    for (Isa isa : AvailableIsas()) {
      const ErrorSums s = metrics_internal::ComputeErrorSums(isa, x, y);
      EXPECT_EQ(s.count, static_cast<int64_t>(n));
      EXPECT_EQ(s.signal_energy, sig) << n << " " << IsaName(isa);
      EXPECT_EQ(s.error_energy, err) << n << " " << IsaName(isa);
      EXPECT_EQ(s.max_abs_error, mx) << n << " " << IsaName(isa);
    }
    const ErrorSums s = ComputeErrorSums(x, y);
    EXPECT_EQ(s.signal_energy, sig) << n;
  }
  std::vector<float> a(20), b(20, 0.0f);
  for (int i = 0; i < 20; ++i) a[i] = static_cast<float>(i - 9);  // -9..10
  const ErrorSums s = ComputeErrorSums(a, b);
  EXPECT_EQ(s.signal_energy, 670.0);  // 285 (1..9 squared) + 385 (1..10 squared)
  EXPECT_EQ(s.error_energy, 670.0);
  EXPECT_EQ(s.max_abs_error, 10.0);
}

// A block's sums are its rows' sums added in row order.
TEST(QuantizeTest, BlockErrorSumsAddTheRowsInOrder) {
  auto x = testing::Gaussian(7 * 13, 21, 1.0f);
  auto y = testing::Gaussian(7 * 13, 22, 1.0f);
  ErrorSums rows;
  for (int r = 0; r < 7; ++r)
    rows.Add(ComputeErrorSums(std::span(x).subspan(r * 13, 13), std::span(y).subspan(r * 13, 13)));
  const ErrorSums block = ComputeBlockErrorSums(x, y, 13);
  EXPECT_EQ(block.count, 91);
  EXPECT_EQ(block.signal_energy, rows.signal_energy);
  EXPECT_EQ(block.error_energy, rows.error_energy);
  EXPECT_EQ(block.max_abs_error, rows.max_abs_error);
}
}  // namespace
}  // namespace quantd
