// RTN row kernels: the fast path of rtn.h, one pass over each group, compiled once per
// instruction-set variant (core/common/isa.h) and checked against rtn_ref.cc bit for bit.
//
// Per group: the largest |x| as an unsigned maximum of the bit patterns of |x| (for finite floats
// their order is the order of the magnitudes; GCC will not vectorise a float max reduction, but
// does an integer one), the first element that reaches it as an integer minimum of indices, the
// scale, then codes by division (a reciprocal would change bytes) and the round-to-nearest-even
// of adding and subtracting 1.5 * 2^23. Groups of 32, 64, 128 and 256 are compiled with their
// length known, so the loops run without remainders. With 8 bits the codes go straight to the
// output; narrower codes go through one row of bytes in L1 and are packed in the same variant.
#include <algorithm>
#include <bit>
#include <cstring>
#include <vector>

#include "core/common/bitpack.h"
#include "core/common/isa.h"
#include "core/rtn/rtn.h"

#if QUANTD_X86_VARIANTS
#include <immintrin.h>
// GCC 12's AVX-512 intrinsics pass undefined vectors as masked-off operands, which
// -Wmaybe-uninitialized reports at every use.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#endif

namespace quantd::rtn_internal {
namespace {

constexpr float kRoundMagic = 12582912.0f;

// Scales through dtype.h's exact software conversions.
struct SoftwareScales {
  static float Store(float v, DType dt, uint8_t* dst) { return StoreScalar(v, dt, dst); }
  static float Load(const uint8_t* src, DType dt) { return LoadScalar(src, dt); }
};

#if QUANTD_X86_VARIANTS
// F16 scales through F16C's conversions: both are IEEE round-to-nearest-even and exact on
// widening, like FloatToF16 and F16ToFloat, for every finite input (the tests compare them).
// Not always_inline: a target function can only be inlined into a caller with that target.
struct F16cScales {
  QUANTD_TARGET_F16C static inline float Store(float v, DType dt, uint8_t* dst) {
    if (dt != DType::kF16) return StoreScalar(v, dt, dst);
    const uint16_t h = static_cast<uint16_t>(_cvtss_sh(v, _MM_FROUND_TO_NEAREST_INT));
    memcpy(dst, &h, 2);
    return _cvtsh_ss(h);
  }
  QUANTD_TARGET_F16C static inline float Load(const uint8_t* src, DType dt) {
    if (dt != DType::kF16) return LoadScalar(src, dt);
    uint16_t h;
    memcpy(&h, src, 2);
    return _cvtsh_ss(h);
  }
};
#endif

inline int64_t ScaleSize(DType dt) { return dt == DType::kF32 ? 4 : 2; }

// One group of n (= kN when kN > 0) weights: codes one per byte into q, the scale into scale.
// Returns kRowOk or the kRow* flags of what went wrong.
template <class Scales, int64_t kN>
QUANTD_ALWAYS_INLINE int EncodeGroup(const float* x, int64_t n_runtime, int bits, DType scale_dtype,
                                     uint8_t* q, uint8_t* scale) {
  const int32_t n = static_cast<int32_t>(kN > 0 ? kN : n_runtime);
  const int half = 1 << (bits - 1);
  uint32_t amax = 0;
  for (int32_t i = 0; i < n; ++i) {
    uint32_t u;
    memcpy(&u, x + i, 4);
    amax = std::max(amax, u & 0x7FFFFFFFu);
  }
  // Inf and NaN have |x| patterns from 0x7F800000 up: the maximum finds them too.
  const int input_flag = amax >= 0x7F800000u ? kRowInputNotFinite : kRowOk;
  // The first element that reaches it: a bit mask per 32 elements (a vectorised OR of shifted
  // compares), stopping at the first block that has one.
  int32_t first = 0;
  for (int32_t b = 0; b < n; b += 32) {
    const int32_t len = std::min<int32_t>(32, n - b);
    uint32_t hits = 0;
    for (int32_t i = 0; i < len; ++i) {
      uint32_t u;
      memcpy(&u, x + b + i, 4);
      hits |= static_cast<uint32_t>((u & 0x7FFFFFFFu) == amax) << i;
    }
    if (hits != 0) {
      first = b + std::countr_zero(hits);
      break;
    }
  }
  // An all-zero group keeps m = +0 whatever the signs of its zeros, as the reference does (it only
  // replaces m by a strictly larger magnitude): the scale is then -0.
  const float m = amax == 0 ? 0.0f : x[first];
  const float lo = static_cast<float>(-half);
  const float hi = static_cast<float>(half - 1);
  const float d = Scales::Store(m / lo, scale_dtype, scale);
  if (d == 0) {
    memset(q, half, static_cast<size_t>(n));
    return input_flag;
  }
  for (int32_t i = 0; i < n; ++i) {
    float v = (x[i] / d + kRoundMagic) - kRoundMagic;
    v = std::min(hi, std::max(lo, v));
    q[i] = static_cast<uint8_t>(static_cast<int32_t>(v) + half);
  }
  // d - d is 0 for finite d and NaN for Inf and NaN (NaN only from non-finite input).
  return input_flag | (d - d == 0 ? kRowOk : kRowScaleNotFinite);
}

#if QUANTD_X86_VARIANTS
// The same group in AVX-512 intrinsics, for lengths that are multiples of 16: the compiler keeps
// the auto-vectorised loops above to 256-bit registers and reduces every group through memory,
// which costs as much as the group itself at 32 weights. Same operations, same order, same bytes
// (the tests compare it with the reference); returns what EncodeGroup returns.
template <int64_t kN>
QUANTD_TARGET_AVX512 inline int EncodeGroupAvx512(const float* x, int bits, DType scale_dtype, uint8_t* q,
                                                  uint8_t* scale) {
  static_assert(kN > 0 && kN % 16 == 0);
  constexpr int kV = static_cast<int>(kN / 16);
  const int half = 1 << (bits - 1);
  const __m512i abs_mask = _mm512_set1_epi32(0x7FFFFFFF);
  __m512i a[kV];
  __m512i mx = _mm512_setzero_si512();
  for (int v = 0; v < kV; ++v) {
    a[v] = _mm512_and_si512(_mm512_loadu_si512(x + 16 * v), abs_mask);
    mx = _mm512_max_epu32(mx, a[v]);
  }
  const uint32_t amax = _mm512_reduce_max_epu32(mx);
  const int input_flag = amax >= 0x7F800000u ? kRowInputNotFinite : kRowOk;
  float m = 0.0f;  // +0 for an all-zero group, as in EncodeGroup
  if (amax != 0) {
    const __m512i t = _mm512_set1_epi32(static_cast<int>(amax));
    for (int v = 0; v < kV; ++v) {
      const __mmask16 k = _mm512_cmpeq_epi32_mask(a[v], t);
      if (k != 0) {
        m = x[16 * v + std::countr_zero(static_cast<unsigned>(k))];
        break;
      }
    }
  }
  const float lo = static_cast<float>(-half);
  const float hi = static_cast<float>(half - 1);
  const float d = F16cScales::Store(m / lo, scale_dtype, scale);
  if (d == 0) {
    memset(q, half, static_cast<size_t>(kN));
    return input_flag;
  }
  const __m512 vd = _mm512_set1_ps(d), magic = _mm512_set1_ps(kRoundMagic);
  const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
  const __m512i vhalf = _mm512_set1_epi32(half);
  for (int v = 0; v < kV; ++v) {
    __m512 y = _mm512_div_ps(_mm512_loadu_ps(x + 16 * v), vd);
    y = _mm512_sub_ps(_mm512_add_ps(y, magic), magic);
    y = _mm512_min_ps(vhi, _mm512_max_ps(vlo, y));
    const __m512i c = _mm512_add_epi32(_mm512_cvttps_epi32(y), vhalf);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 16 * v), _mm512_cvtepi32_epi8(c));
  }
  return input_flag | (d - d == 0 ? kRowOk : kRowScaleNotFinite);
}
#endif

uint8_t* RowScratch(int64_t cols) {
  thread_local std::vector<uint8_t> q;
  if (q.size() < static_cast<size_t>(cols)) q.resize(static_cast<size_t>(cols));
  return q.data();
}

// kAvx512Groups: whole groups of a multiple of 16 go through EncodeGroupAvx512.
template <class Scales, int64_t kN, bool kAvx512Groups>
QUANTD_ALWAYS_INLINE int EncodeRowGroups(const float* x, int64_t cols, const RtnOptions& o, uint8_t* codes,
                                         uint8_t* scales) {
  const int64_t g = kN > 0 ? kN : o.group_size;
  const int64_t ss = ScaleSize(o.scale_dtype);
  uint8_t* q = o.bits == 8 ? codes : RowScratch(cols);
  int flags = kRowOk;
  int64_t g0 = 0, gi = 0;
  for (; g0 + g <= cols; g0 += g, ++gi) {
#if QUANTD_X86_VARIANTS
    if constexpr (kAvx512Groups && kN > 0 && kN % 16 == 0) {
      flags |= EncodeGroupAvx512<kN>(x + g0, o.bits, o.scale_dtype, q + g0, scales + gi * ss);
      continue;
    }
#endif
    flags |= EncodeGroup<Scales, kN>(x + g0, g, o.bits, o.scale_dtype, q + g0, scales + gi * ss);
  }
  if (g0 < cols) {
    flags |= EncodeGroup<Scales, 0>(x + g0, cols - g0, o.bits, o.scale_dtype, q + g0, scales + gi * ss);
  }
  if (o.bits == 4) {
    PackNibbles(q, static_cast<size_t>(cols), codes);
  } else if (o.bits != 8) {
    PackByteCodes(std::span<const uint8_t>(q, static_cast<size_t>(cols)), o.bits,
                  std::span<uint8_t>(codes, PackedBytes(cols, o.bits)));
  }
  return flags;
}

template <class Scales, bool kAvx512Groups = false>
QUANTD_ALWAYS_INLINE int EncodeRowBody(const float* x, int64_t cols, const RtnOptions& o, uint8_t* codes,
                                       uint8_t* scales) {
  switch (o.group_size) {
    case 32:
      return EncodeRowGroups<Scales, 32, kAvx512Groups>(x, cols, o, codes, scales);
    case 64:
      return EncodeRowGroups<Scales, 64, kAvx512Groups>(x, cols, o, codes, scales);
    case 128:
      return EncodeRowGroups<Scales, 128, kAvx512Groups>(x, cols, o, codes, scales);
    case 256:
      return EncodeRowGroups<Scales, 256, kAvx512Groups>(x, cols, o, codes, scales);
    default:
      return EncodeRowGroups<Scales, 0, kAvx512Groups>(x, cols, o, codes, scales);
  }
}

template <class Scales>
QUANTD_ALWAYS_INLINE void DecodeRowBody(const uint8_t* codes, const uint8_t* scales, int64_t cols,
                                        const RtnOptions& o, float* out) {
  const int half = 1 << (o.bits - 1);
  const int64_t ss = ScaleSize(o.scale_dtype);
  const uint8_t* q = codes;
  if (o.bits != 8) {
    uint8_t* scratch = RowScratch(cols);
    if (o.bits == 4) {
      UnpackNibbles(codes, static_cast<size_t>(cols), scratch);
    } else {
      UnpackByteCodes(std::span<const uint8_t>(codes, PackedBytes(cols, o.bits)), o.bits,
                      std::span<uint8_t>(scratch, static_cast<size_t>(cols)));
    }
    q = scratch;
  }
  for (int64_t g0 = 0, gi = 0; g0 < cols; g0 += o.group_size, ++gi) {
    const int64_t n = std::min(o.group_size, cols - g0);
    const float d = Scales::Load(scales + gi * ss, o.scale_dtype);
    const uint8_t* qg = q + g0;
    float* og = out + g0;
    for (int64_t i = 0; i < n; ++i) og[i] = static_cast<float>(static_cast<int32_t>(qg[i]) - half) * d;
  }
}

int EncodeRowPortable(const float* x, int64_t cols, const RtnOptions& o, uint8_t* codes, uint8_t* scales) {
  return EncodeRowBody<SoftwareScales>(x, cols, o, codes, scales);
}
void DecodeRowPortable(const uint8_t* codes, const uint8_t* scales, int64_t cols, const RtnOptions& o,
                       float* out) {
  DecodeRowBody<SoftwareScales>(codes, scales, cols, o, out);
}

#if QUANTD_X86_VARIANTS
#define QUANTD_RTN_VARIANT(suffix, target, avx512_groups)                                         \
  target int EncodeRow##suffix(const float* x, int64_t cols, const RtnOptions& o, uint8_t* codes, \
                               uint8_t* scales) {                                                 \
    return EncodeRowBody<F16cScales, avx512_groups>(x, cols, o, codes, scales);                   \
  }                                                                                               \
  target void DecodeRow##suffix(const uint8_t* codes, const uint8_t* scales, int64_t cols,        \
                                const RtnOptions& o, float* out) {                                \
    DecodeRowBody<F16cScales>(codes, scales, cols, o, out);                                       \
  }
QUANTD_RTN_VARIANT(Avx2, QUANTD_TARGET_AVX2, false)
QUANTD_RTN_VARIANT(Avx512, QUANTD_TARGET_AVX512, true)
#undef QUANTD_RTN_VARIANT
#endif

}  // namespace

int EncodeRow(Isa isa, const float* x, int64_t cols, const RtnOptions& o, uint8_t* codes, uint8_t* scales) {
#if QUANTD_X86_VARIANTS
  isa = ResolveIsa(isa);
  if (isa == Isa::kAvx512) return EncodeRowAvx512(x, cols, o, codes, scales);
  if (isa == Isa::kAvx2) return EncodeRowAvx2(x, cols, o, codes, scales);
#endif
  return EncodeRowPortable(x, cols, o, codes, scales);
}

void DecodeRow(Isa isa, const uint8_t* codes, const uint8_t* scales, int64_t cols, const RtnOptions& o,
               float* out) {
#if QUANTD_X86_VARIANTS
  isa = ResolveIsa(isa);
  if (isa == Isa::kAvx512) return DecodeRowAvx512(codes, scales, cols, o, out);
  if (isa == Isa::kAvx2) return DecodeRowAvx2(codes, scales, cols, o, out);
#endif
  DecodeRowPortable(codes, scales, cols, o, out);
}

}  // namespace quantd::rtn_internal
