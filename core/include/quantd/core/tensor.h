// File: tensor.h
//
// `quantd::RowBlock`: the input of an encoder, a block of consecutive rows of one tensor, already
// widened to float, plus the optional calibration data some methods accept.
#ifndef QUANTD_CORE_TENSOR_H_
#define QUANTD_CORE_TENSOR_H_

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "quantd/core/dtype.h"

namespace quantd {

// Calibration data supplied with a tensor, as views (the client maps them from calibration files,
// the server holds them in uploaded blobs; neither is copied). Empty spans mean "not supplied".
struct Calibration {
  // CrossQuant: static column abs-maxima c_j from calibration activations (cols values).
  std::span<const float> column_max;
  // PVQ (Hessian-aware): H = X^T X from calibration activations, cols x cols, row-major.
  std::span<const float> hessian;
};

struct RowBlock {
  std::string_view tensor_name;       // for error messages and derived seeds only
  std::span<const int64_t> shape;     // the whole tensor's shape
  DType source_dtype = DType::kF32;
  int64_t row_begin = 0;              // first row of this block in the tensor's matrix view
  int64_t rows = 0;
  int64_t cols = 0;
  std::span<const float> data;        // rows * cols values, row-major
  const Calibration* calibration = nullptr;

  const float* row(int64_t r) const { return data.data() + r * cols; }
};

}  // namespace quantd

#endif  // QUANTD_CORE_TENSOR_H_
