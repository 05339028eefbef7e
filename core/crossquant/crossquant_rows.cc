// CrossQuant row kernels: the inner loops of the fast path, written so that the compiler
// vectorises them (no branches, no float reductions that need reassociation), compiled twice: for
// the baseline x86-64 (SSE2) or any other target, and, on x86-64 with GCC or Clang, for AVX2 via
// a function target attribute, picked at run time. Both variants run the same IEEE binary32
// operations in the same order (AVX2 does not enable FMA, and the build does not contract), so
// their bytes are identical; the tests compare each against the reference.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

#include "crossquant/crossquant.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define QUANTD_CROSSQUANT_AVX2 1
#define QUANTD_TARGET_AVX2 __attribute__((target("avx2")))
#define QUANTD_ALWAYS_INLINE __attribute__((always_inline)) inline
#else
#define QUANTD_CROSSQUANT_AVX2 0
#define QUANTD_ALWAYS_INLINE inline
#endif

namespace quantd::crossquant_internal {
namespace {

// Adding and subtracting 1.5 * 2^23 rounds a float of magnitude < 2^22 to the nearest integer,
// ties to even (the default rounding mode), like nearbyint, and vectorises without SSE4.1.
constexpr float kRoundMagic = 12582912.0f;
// Elements per span of the quantizing loop: a span with a quotient near a half-integer is
// re-examined element by element (FixNearHalf).
constexpr int64_t kSpan = 64;
// Factors in [2^-60, 2^60] (or exactly 0) keep every product and reciprocal below normal and
// finite, which the error bound of the reciprocal quotient needs.
constexpr float kSafeLo = 0x1p-60f, kSafeHi = 0x1p60f;
// The reciprocal quotient x * (1/S * 1/V) is within 5 binary32 roundings (relative 5 * 2^-24) of
// the exact x / D, i.e. within 3.9e-5 of it for |x/D| <= 129.5; a quotient further than 2^-14
// from every half-integer therefore rounds like the exact one.
constexpr float kReciprocalMargin = 0x1p-14f;

// Portable: the column maxima in one loop, then the row maximum over sixteen independent lanes
// (max is exact, so the lanes equal a sequential scan and need no reassociation to vectorise);
// the row is in L1 by then.
QUANTD_ALWAYS_INLINE float RowAbsMaxLanes(const float* x, int64_t n, float* col_max) {
  if (col_max != nullptr) {
    for (int64_t j = 0; j < n; ++j) col_max[j] = std::max(col_max[j], std::fabs(x[j]));
  }
  constexpr int kLanes = 16;
  float lane[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    for (int k = 0; k < kLanes; ++k) lane[k] = std::max(lane[k], std::fabs(x[j + k]));
  }
  float m = 0;
  for (; j < n; ++j) m = std::max(m, std::fabs(x[j]));
  for (float l : lane) m = std::max(m, l);
  return m;
}

// AVX2: one loop; the row maximum as an integer maximum of the bit patterns of |x|, which orders
// like the values for finite non-negative floats and is a native reduction there (SSE2 lacks
// the 32-bit integer max, so the portable variant keeps the lanes).
QUANTD_ALWAYS_INLINE float RowAbsMaxBits(const float* x, int64_t n, float* col_max) {
  int32_t m = 0;
  for (int64_t j = 0; j < n; ++j) {
    const int32_t a = std::bit_cast<int32_t>(x[j]) & 0x7FFFFFFF;
    m = std::max(m, a);
    if (col_max != nullptr) col_max[j] = std::max(col_max[j], std::bit_cast<float>(a));
  }
  return std::bit_cast<float>(m);
}

// Codes and counts of n <= kSpan elements. The quotient is x / (S V) rounded to binary32
// (kReciprocal false) or x * (1/S * 1/V) (kReciprocal true, no division: a and inv_v hold the
// reciprocals, 0 for a zero factor). Returns nonzero when a quotient lay within `margin` of a
// half-integer (exactly on one for the division): its rounding is then settled by FixNearHalf.
template <bool kReciprocal>
QUANTD_ALWAYS_INLINE int QuantizeSpan(const float* x, int64_t n, float s, const float* v, float a,
                                      const float* inv_v, float per_token_step, int qmax, uint8_t* q,
                                      int32_t count[4]) {
  const float lim = static_cast<float>(qmax + 1);
  const float fq = static_cast<float>(qmax);
  const float near = 0.5f - (kReciprocal ? kReciprocalMargin : 0.0f);
  const int half = qmax + 1;
  int32_t nonzero = 0, kernel = 0, per_token = 0, clamp = 0;
  int flagged = 0;
  for (int64_t j = 0; j < n; ++j) {
    const float xj = x[j];
    const float ax = std::fabs(xj);
    float qf;
    if constexpr (kReciprocal) {
      qf = xj * (a * inv_v[j]);
    } else {
      const float d = s * v[j];
      // A zero step gives code 0: divide by 1 instead and multiply the quotient by 0, which
      // keeps the loop free of branches and NaN.
      const float z = static_cast<float>(d == 0);
      qf = xj / (d + z) * (1 - z);
    }
    qf = std::min(lim, std::max(-lim, qf));
    const float r = (qf + kRoundMagic) - kRoundMagic;
    flagged |= std::fabs(qf - r) >= near;
    clamp += std::fabs(r) == lim;
    const float rc = std::min(fq, std::max(-fq, r));
    const int nz = ax != 0;
    nonzero += nz;
    kernel += nz & (rc == 0);
    per_token += nz & (2 * ax <= per_token_step);
    q[j] = static_cast<uint8_t>(static_cast<int>(rc) + half);
  }
  count[0] += nonzero;
  count[1] += kernel;
  count[2] += per_token;
  count[3] += clamp;
  return flagged;
}

// Re-examines a flagged span: every element whose fast quotient was flagged gets the exact
// rounding (the double quotient of x and the binary32 step, as in the reference), and its code
// and counts are corrected.
template <bool kReciprocal>
void FixNearHalf(const float* x, int64_t n, float s, const float* v, float a, const float* inv_v, int qmax,
                 uint8_t* q, int32_t count[4]) {
  const float lim = static_cast<float>(qmax + 1);
  const float fq = static_cast<float>(qmax);
  const float near = 0.5f - (kReciprocal ? kReciprocalMargin : 0.0f);
  for (int64_t j = 0; j < n; ++j) {
    const float d = s * v[j];
    if (d == 0) continue;  // code 0 either way
    float qf = kReciprocal ? x[j] * (a * inv_v[j]) : x[j] / d;
    qf = std::min(lim, std::max(-lim, qf));
    const float r = (qf + kRoundMagic) - kRoundMagic;
    if (!(std::fabs(qf - r) >= near)) continue;
    const double e = std::nearbyint(static_cast<double>(x[j]) / static_cast<double>(d));
    const float exact = static_cast<float>(std::min<double>(lim, std::max<double>(-lim, e)));
    if (exact == r) continue;
    const float old_c = std::min(fq, std::max(-fq, r));
    const float new_c = std::min(fq, std::max(-fq, exact));
    count[3] += (std::fabs(exact) == lim) - (std::fabs(r) == lim);
    count[1] += (new_c == 0) - (old_c == 0);  // x != 0 here: its quotient is near a half-integer
    q[j] = static_cast<uint8_t>(static_cast<int>(new_c) + qmax + 1);
  }
}

bool Safe(float f) { return f == 0 || (f >= kSafeLo && f <= kSafeHi); }

template <bool kReciprocal>
QUANTD_ALWAYS_INLINE void QuantizeSpans(const float* x, int64_t cols, float s, const float* v, float a,
                                        const float* inv_v, float per_token_step, int qmax, uint8_t* q,
                                        KernelCounts* counts) {
  for (int64_t j0 = 0; j0 < cols; j0 += kSpan) {
    const int64_t n = std::min(kSpan, cols - j0);
    int32_t count[4] = {0, 0, 0, 0};  // a span's counts fit in 32 bits whatever the row length
    const float* iv = kReciprocal ? inv_v + j0 : nullptr;
    if (QuantizeSpan<kReciprocal>(x + j0, n, s, v + j0, a, iv, per_token_step, qmax, q + j0, count)) {
      FixNearHalf<kReciprocal>(x + j0, n, s, v + j0, a, iv, qmax, q + j0, count);
    }
    counts->nonzero += count[0];
    counts->kernel += count[1];
    counts->per_token_kernel += count[2];
    counts->clamp += count[3];
  }
}

QUANTD_ALWAYS_INLINE void QuantizeRowBody(const float* x, int64_t cols, float s, const float* v,
                                          const float* inv_v, float per_token_step, int qmax, uint8_t* q,
                                          KernelCounts* counts) {
  if (inv_v != nullptr && Safe(s)) {
    const float a = s == 0 ? 0.0f : 1.0f / s;
    QuantizeSpans<true>(x, cols, s, v, a, inv_v, per_token_step, qmax, q, counts);
  } else {
    QuantizeSpans<false>(x, cols, s, v, 0.0f, nullptr, per_token_step, qmax, q, counts);
  }
}

QUANTD_ALWAYS_INLINE bool DecodeRowBody(const uint8_t* q, int64_t cols, float s, const float* v, int qmax,
                                        float* out) {
  const int half = qmax + 1;
  int bad = 0;
  for (int64_t j = 0; j < cols; ++j) {
    bad |= q[j] == 0;
    out[j] = static_cast<float>(static_cast<int>(q[j]) - half) * (s * v[j]);
  }
  return bad == 0;
}

float RowAbsMaxPortable(const float* x, int64_t n, float* col_max) { return RowAbsMaxLanes(x, n, col_max); }
void QuantizeRowPortable(const float* x, int64_t cols, float s, const float* v, const float* inv_v, float pts,
                         int qmax, uint8_t* q, KernelCounts* counts) {
  QuantizeRowBody(x, cols, s, v, inv_v, pts, qmax, q, counts);
}
bool DecodeRowPortable(const uint8_t* q, int64_t cols, float s, const float* v, int qmax, float* out) {
  return DecodeRowBody(q, cols, s, v, qmax, out);
}

#if QUANTD_CROSSQUANT_AVX2
QUANTD_TARGET_AVX2 float RowAbsMaxAvx2(const float* x, int64_t n, float* col_max) {
  return RowAbsMaxBits(x, n, col_max);
}
QUANTD_TARGET_AVX2 void QuantizeRowAvx2(const float* x, int64_t cols, float s, const float* v, const float* inv_v,
                                        float pts, int qmax, uint8_t* q, KernelCounts* counts) {
  QuantizeRowBody(x, cols, s, v, inv_v, pts, qmax, q, counts);
}
QUANTD_TARGET_AVX2 bool DecodeRowAvx2(const uint8_t* q, int64_t cols, float s, const float* v, int qmax,
                                      float* out) {
  return DecodeRowBody(q, cols, s, v, qmax, out);
}
#endif

}  // namespace

bool IsaAvailable(Isa isa) {
  switch (isa) {
    case Isa::kAuto:
    case Isa::kPortable:
      return true;
    case Isa::kAvx2:
#if QUANTD_CROSSQUANT_AVX2
      return __builtin_cpu_supports("avx2");
#else
      return false;
#endif
  }
  return false;
}

float RowAbsMax(Isa isa, const float* x, int64_t cols, float* col_max) {
#if QUANTD_CROSSQUANT_AVX2
  if (isa == Isa::kAvx2) return RowAbsMaxAvx2(x, cols, col_max);
#endif
  return RowAbsMaxPortable(x, cols, col_max);
}

bool ReciprocalsUsable(const std::vector<float>& v) { return std::all_of(v.begin(), v.end(), Safe); }

std::vector<float> Reciprocals(const std::vector<float>& v) {
  std::vector<float> r(v.size());
  for (size_t j = 0; j < v.size(); ++j) r[j] = v[j] == 0 ? 0.0f : 1.0f / v[j];
  return r;
}

void QuantizeRow(Isa isa, const float* x, int64_t cols, float s, const float* v, const float* inv_v,
                 float per_token_step, int qmax, uint8_t* q, KernelCounts* counts) {
#if QUANTD_CROSSQUANT_AVX2
  if (isa == Isa::kAvx2) return QuantizeRowAvx2(x, cols, s, v, inv_v, per_token_step, qmax, q, counts);
#endif
  QuantizeRowPortable(x, cols, s, v, inv_v, per_token_step, qmax, q, counts);
}

bool DecodeRow(Isa isa, const uint8_t* q, int64_t cols, float s, const float* v, int qmax, float* out) {
#if QUANTD_CROSSQUANT_AVX2
  if (isa == Isa::kAvx2) return DecodeRowAvx2(q, cols, s, v, qmax, out);
#endif
  return DecodeRowPortable(q, cols, s, v, qmax, out);
}

}  // namespace quantd::crossquant_internal
