// Reference CrossQuant kernels: the definition in crossquant.h, written as plainly as possible
// (one pow per element, uint32 codes through PackBits). Kept as the specification the fast path
// is tested against.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/common/bitpack.h"
#include "core/crossquant/crossquant.h"

namespace quantd::crossquant_internal {
namespace {

// A maximum as the encoding stores it.
float Stored(float m, DType dtype) { return dtype == DType::kF16 ? F16ToFloat(FloatToF16(m)) : m; }

// D_ij = f32(pow(t, alpha) / qmax) * f32(pow(c, 1 - alpha)), the product in binary32.
float Step(float t, float c, const CrossQuantOptions& o) {
  const float s = static_cast<float>(std::pow(static_cast<double>(t), o.alpha) / o.qmax());
  const float v = static_cast<float>(std::pow(static_cast<double>(c), 1.0 - o.alpha));
  return s * v;
}

// round_half_even(x / d) clamped to [-qmax, qmax]; 0 when d == 0. The double quotient of two
// floats rounds to the same integer as the exact quotient (docs/FORMAT.md).
int Quantize(float x, float d, int qmax, bool* clamped) {
  *clamped = false;
  if (d == 0) return 0;
  const double r = std::nearbyint(static_cast<double>(x) / static_cast<double>(d));
  if (std::fabs(r) > qmax) {
    *clamped = true;
    return r > 0 ? qmax : -qmax;
  }
  return static_cast<int>(r);
}

}  // namespace

void EncodePerTokenRef(const float* x, int64_t rows, int64_t cols, const CrossQuantOptions& o,
                       std::vector<uint8_t>* codes, int64_t* kernel_count) {
  const int qmax = o.qmax();
  const int half = qmax + 1;
  const size_t row_bytes = PackedBytes(cols, o.bits);
  codes->assign(rows * row_bytes, 0);
  *kernel_count = 0;
  std::vector<uint32_t> q(cols);
  for (int64_t i = 0; i < rows; ++i) {
    const float* xi = x + i * cols;
    float t = 0;
    for (int64_t j = 0; j < cols; ++j) t = std::max(t, std::fabs(xi[j]));
    const float d = Stored(t, o.scale_dtype) / static_cast<float>(qmax);
    for (int64_t j = 0; j < cols; ++j) {
      bool clamped;
      const int v = Quantize(xi[j], d, qmax, &clamped);
      if (xi[j] != 0 && v == 0) ++*kernel_count;
      q[j] = static_cast<uint32_t>(v + half);
    }
    PackBits(q, o.bits, std::span<uint8_t>(codes->data() + i * row_bytes, row_bytes));
  }
}

bool EncodeRef(const float* x, int64_t rows, int64_t cols, const CrossQuantOptions& o,
               const float* static_col_max, Block* out) {
  const int qmax = o.qmax();
  const int half = qmax + 1;
  out->row_max.assign(rows, 0.0f);
  out->col_max.assign(cols, 0.0f);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      const float a = std::fabs(x[i * cols + j]);
      out->row_max[i] = std::max(out->row_max[i], a);
      out->col_max[j] = std::max(out->col_max[j], a);
    }
  }
  if (o.static_columns) out->col_max.assign(static_col_max, static_col_max + cols);
  bool finite = true;
  for (float& t : out->row_max) {
    t = Stored(t, o.scale_dtype);
    finite = finite && std::isfinite(t);
  }
  for (float& c : out->col_max) {
    c = Stored(c, o.scale_dtype);
    finite = finite && std::isfinite(c);
  }
  if (!finite) return false;

  const size_t row_bytes = PackedBytes(cols, o.bits);
  out->codes.assign(rows * row_bytes, 0);
  out->counts = {};
  std::vector<uint32_t> q(cols);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      const float xij = x[i * cols + j];
      const float d = Step(out->row_max[i], out->col_max[j], o);
      if (!std::isfinite(d)) return false;
      bool clamped;
      const int v = Quantize(xij, d, qmax, &clamped);
      out->counts.clamp += clamped ? 1 : 0;
      if (xij != 0) {
        ++out->counts.nonzero;
        if (v == 0) ++out->counts.kernel;
      }
      q[j] = static_cast<uint32_t>(v + half);
    }
    PackBits(q, o.bits, std::span<uint8_t>(out->codes.data() + i * row_bytes, row_bytes));
  }
  std::vector<uint8_t> per_token_codes;
  EncodePerTokenRef(x, rows, cols, o, &per_token_codes, &out->counts.per_token_kernel);
  return true;
}

bool DecodeRef(const uint8_t* codes, const float* row_max, const float* col_max, int64_t rows, int64_t cols,
               const CrossQuantOptions& o, float* out) {
  const int half = o.qmax() + 1;
  const size_t row_bytes = PackedBytes(cols, o.bits);
  std::vector<uint32_t> q(cols);
  for (int64_t i = 0; i < rows; ++i) {
    UnpackBits(std::span<const uint8_t>(codes + i * row_bytes, row_bytes), o.bits, q);
    for (int64_t j = 0; j < cols; ++j) {
      const float d = Step(row_max[i], col_max[j], o);
      if (q[j] == 0 || !std::isfinite(d)) return false;
      out[i * cols + j] = static_cast<float>(static_cast<int>(q[j]) - half) * d;
    }
  }
  return true;
}

}  // namespace quantd::crossquant_internal
