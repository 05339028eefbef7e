// CrossQuant row kernels: the inner loops of the fast path, written so that the compiler
// vectorises them (no branches, no float reductions that need reassociation), compiled three
// times: for the baseline x86-64 (SSE2) or any other target, and, on x86-64 with GCC or Clang,
// for AVX2 and for AVX-512 via function target attributes, picked at run time. All variants run
// the same IEEE binary32 operations in the same order, so their bytes are identical; the tests
// compare each against the reference. AVX-512 brings FMA instructions, which GCC would fuse
// a * b + c into by default in C++: the build passes -ffp-contract=off (cmake/QuantdHelpers.cmake),
// and no expression here has a multiply feeding an add anyway.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "core/common/isa.h"
#include "core/crossquant/crossquant.h"

namespace quantd::crossquant_internal {
namespace {

// Adding and subtracting 1.5 * 2^23 rounds a float of magnitude < 2^22 to the nearest integer,
// ties to even (the default rounding mode), like nearbyint, and vectorises without SSE4.1.
constexpr float kRoundMagic = 12582912.0f;
// Elements per block of the quantizing loop, so that its counts fit in 32 bits.
constexpr int64_t kBlock = int64_t{1} << 24;
// Factors in [2^-60, 2^60] (or exactly 0) keep every product and reciprocal normal and finite,
// which the error bound of the reciprocal quotient needs.
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
  // Inf and NaN (all-ones exponent), which max would pass over: an integer OR that vectorises.
  uint32_t bad = 0;
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    for (int k = 0; k < kLanes; ++k) {
      lane[k] = std::max(lane[k], std::fabs(x[j + k]));
      bad |= static_cast<uint32_t>((std::bit_cast<uint32_t>(x[j + k]) & 0x7F800000u) == 0x7F800000u);
    }
  }
  float m = 0;
  for (; j < n; ++j) {
    m = std::max(m, std::fabs(x[j]));
    bad |= static_cast<uint32_t>((std::bit_cast<uint32_t>(x[j]) & 0x7F800000u) == 0x7F800000u);
  }
  for (float l : lane) m = std::max(m, l);
  return bad != 0 ? std::numeric_limits<float>::infinity() : m;
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
  // Inf and NaN have the largest patterns: one test covers the row.
  return m >= 0x7F800000 ? std::numeric_limits<float>::infinity() : std::bit_cast<float>(m);
}

// The quotient of element j, clamped to [-qmax-1, qmax+1]: x / (S V) rounded to binary32
// (kReciprocal false) or x * (1/S * 1/V) (kReciprocal true, no division: a and inv_v hold the
// reciprocals, 0 for a zero factor). A zero step gives quotient 0: the division then divides by 1
// and multiplies by 0, which keeps the loop free of branches and NaN.
template <bool kReciprocal>
QUANTD_ALWAYS_INLINE float Quotient(float x, float s, float v, float a, float inv_v, float lim) {
  float qf;
  if constexpr (kReciprocal) {
    qf = x * (a * inv_v);
  } else {
    const float d = s * v;
    const float z = static_cast<float>(d == 0);
    qf = x / (d + z) * (1 - z);
  }
  return std::min(lim, std::max(-lim, qf));
}

// Codes (one per byte) and counts of n <= kBlock elements. An element whose quotient lies within
// the margin of a half-integer (exactly on one for the division) is flagged: it gets the
// placeholder code 0, which no element can otherwise have, and SettleFlagged gives it its exact
// code, correcting the counts it entered with its provisional rounding. Clamps are counted only
// when kCountClamps (see QuantizeRowBody for why that is exact). Returns whether any element was
// flagged.
template <bool kReciprocal, bool kCountClamps>
QUANTD_ALWAYS_INLINE bool QuantizeBlock(const float* x, int64_t n, float s, const float* v, float a,
                                        const float* inv_v, float per_token_step, int qmax, uint8_t* q,
                                        KernelCounts* counts) {
  const float lim = static_cast<float>(qmax + 1);
  const float fq = static_cast<float>(qmax);
  const float near = 0.5f - (kReciprocal ? kReciprocalMargin : 0.0f);
  const int half = qmax + 1;
  // Zero inputs get code `half` and lie in both kernels below; they are counted once and
  // subtracted, which saves testing x != 0 per element.
  int32_t zeros = 0, kernel = 0, per_token = 0, clamp = 0, flagged = 0;
  for (int64_t j = 0; j < n; ++j) {
    const float ax = std::fabs(x[j]);
    const float qf = Quotient<kReciprocal>(x[j], s, v[j], a, kReciprocal ? inv_v[j] : 0.0f, lim);
    const float r = (qf + kRoundMagic) - kRoundMagic;
    const int32_t flag = std::fabs(qf - r) >= near;
    const float rc = std::min(fq, std::max(-fq, r));
    zeros += ax == 0;
    flagged |= flag;
    kernel += rc == 0;
    if constexpr (kCountClamps) clamp += std::fabs(r) == lim;
    per_token += 2 * ax <= per_token_step;
    q[j] = static_cast<uint8_t>((static_cast<int32_t>(rc) + half) & (flag - 1));
  }
  counts->nonzero += n - zeros;
  counts->kernel += kernel - zeros;
  counts->per_token_kernel += per_token - zeros;
  counts->clamp += clamp;
  return flagged != 0;
}

// Gives every flagged element (code 0) its exact code, the double quotient of x and the binary32
// step rounded as in the reference, and replaces the counts of its provisional rounding by
// those of the exact one.
template <bool kReciprocal, bool kCountClamps>
void SettleFlagged(const float* x, int64_t n, float s, const float* v, float a, const float* inv_v, int qmax,
                   uint8_t* q, KernelCounts* counts) {
  const float lim = static_cast<float>(qmax + 1);
  const float fq = static_cast<float>(qmax);
  // memchr finds the placeholders with SIMD; there are few (about one in 8192 elements).
  for (const uint8_t* p = q; (p = static_cast<const uint8_t*>(memchr(p, 0, q + n - p))) != nullptr; ++p) {
    const int64_t j = p - q;
    const float qf = Quotient<kReciprocal>(x[j], s, v[j], a, kReciprocal ? inv_v[j] : 0.0f, lim);
    const float r = (qf + kRoundMagic) - kRoundMagic;
    const double e = std::nearbyint(static_cast<double>(x[j]) / static_cast<double>(s * v[j]));
    const double c = std::min<double>(qmax, std::max<double>(-qmax, e));
    counts->kernel += (c == 0) - (std::min(fq, std::max(-fq, r)) == 0);
    if (kCountClamps) counts->clamp += (std::fabs(e) > qmax) - (std::fabs(r) == lim);
    q[j] = static_cast<uint8_t>(static_cast<int>(c) + qmax + 1);
  }
}

bool Safe(float f) { return f == 0 || (f >= kSafeLo && f <= kSafeHi); }

template <bool kReciprocal, bool kCountClamps>
QUANTD_ALWAYS_INLINE void QuantizeBlocks(const float* x, int64_t cols, float s, const float* v, float a,
                                         const float* inv_v, float per_token_step, int qmax, uint8_t* q,
                                         KernelCounts* counts) {
  for (int64_t j0 = 0; j0 < cols; j0 += kBlock) {
    const int64_t n = std::min(kBlock, cols - j0);
    const float* iv = kReciprocal ? inv_v + j0 : nullptr;
    if (QuantizeBlock<kReciprocal, kCountClamps>(x + j0, n, s, v + j0, a, iv, per_token_step, qmax, q + j0,
                                                 counts)) {
      SettleFlagged<kReciprocal, kCountClamps>(x + j0, n, s, v + j0, a, iv, qmax, q + j0, counts);
    }
  }
}

// Clamps are counted only where they can happen: with static column maxima, or on the division
// path. With maxima from the block and factors in the reciprocal range, |x| <= min(t, c) and D is
// within 3 roundings of t^alpha c^(1-alpha) / qmax (F16 maxima lose at most 2^-11 more), so
// every quotient is below qmax + 0.07 and none rounds beyond qmax: the count is exactly 0. (The
// tests compare it with the reference's, which always counts.)
QUANTD_ALWAYS_INLINE void QuantizeRowBody(const float* x, int64_t cols, float s, const float* v,
                                          const float* inv_v, bool static_columns, float per_token_step,
                                          int qmax, uint8_t* q, KernelCounts* counts) {
  const float a = s == 0 ? 0.0f : 1.0f / s;
  if (inv_v == nullptr || !Safe(s)) {
    QuantizeBlocks<false, true>(x, cols, s, v, a, nullptr, per_token_step, qmax, q, counts);
  } else if (static_columns) {
    QuantizeBlocks<true, true>(x, cols, s, v, a, inv_v, per_token_step, qmax, q, counts);
  } else {
    QuantizeBlocks<true, false>(x, cols, s, v, a, inv_v, per_token_step, qmax, q, counts);
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
void QuantizeRowPortable(const float* x, int64_t cols, float s, const float* v, const float* inv_v, bool st,
                         float pts, int qmax, uint8_t* q, KernelCounts* counts) {
  QuantizeRowBody(x, cols, s, v, inv_v, st, pts, qmax, q, counts);
}
bool DecodeRowPortable(const uint8_t* q, int64_t cols, float s, const float* v, int qmax, float* out) {
  return DecodeRowBody(q, cols, s, v, qmax, out);
}

#if QUANTD_X86_VARIANTS
// One set of wrappers per instruction set; the bodies are inlined into each.
#define QUANTD_CROSSQUANT_VARIANT(suffix, target)                                                            \
  target float RowAbsMax##suffix(const float* x, int64_t n, float* col_max) {                                \
    return RowAbsMaxBits(x, n, col_max);                                                                     \
  }                                                                                                          \
  target void QuantizeRow##suffix(const float* x, int64_t cols, float s, const float* v, const float* inv_v, \
                                  bool st, float pts, int qmax, uint8_t* q, KernelCounts* counts) {          \
    QuantizeRowBody(x, cols, s, v, inv_v, st, pts, qmax, q, counts);                                         \
  }                                                                                                          \
  target bool DecodeRow##suffix(const uint8_t* q, int64_t cols, float s, const float* v, int qmax,           \
                                float* out) {                                                                \
    return DecodeRowBody(q, cols, s, v, qmax, out);                                                          \
  }
QUANTD_CROSSQUANT_VARIANT(Avx2, QUANTD_TARGET_AVX2)
QUANTD_CROSSQUANT_VARIANT(Avx512, QUANTD_TARGET_AVX512)
#undef QUANTD_CROSSQUANT_VARIANT
#endif

}  // namespace

float RowAbsMax(Isa isa, const float* x, int64_t cols, float* col_max) {
#if QUANTD_X86_VARIANTS
  if (isa == Isa::kAvx512) return RowAbsMaxAvx512(x, cols, col_max);
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
                 bool static_columns, float per_token_step, int qmax, uint8_t* q, KernelCounts* counts) {
#if QUANTD_X86_VARIANTS
  if (isa == Isa::kAvx512) {
    return QuantizeRowAvx512(x, cols, s, v, inv_v, static_columns, per_token_step, qmax, q, counts);
  }
  if (isa == Isa::kAvx2) {
    return QuantizeRowAvx2(x, cols, s, v, inv_v, static_columns, per_token_step, qmax, q, counts);
  }
#endif
  QuantizeRowPortable(x, cols, s, v, inv_v, static_columns, per_token_step, qmax, q, counts);
}

bool DecodeRow(Isa isa, const uint8_t* q, int64_t cols, float s, const float* v, int qmax, float* out) {
#if QUANTD_X86_VARIANTS
  if (isa == Isa::kAvx512) return DecodeRowAvx512(q, cols, s, v, qmax, out);
  if (isa == Isa::kAvx2) return DecodeRowAvx2(q, cols, s, v, qmax, out);
#endif
  return DecodeRowPortable(q, cols, s, v, qmax, out);
}

}  // namespace quantd::crossquant_internal
