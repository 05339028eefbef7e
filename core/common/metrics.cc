#include "quantd/core/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "core/common/isa.h"
#include "core/common/metrics_internal.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace quantd {

void ErrorSums::Add(const ErrorSums& o) {
  count += o.count;
  signal_energy += o.signal_energy;
  error_energy += o.error_energy;
  max_abs_error = std::max(max_abs_error, o.max_abs_error);
}

namespace {

// Eight independent accumulators per sum (lane k takes the elements i with i % 8 == k of the
// whole blocks of eight), combined in lane order at the end; the elements after the last whole
// block are added one by one after that. Nothing is reassociated, so the sums are the same on every
// machine and thread count, with or without SSE2. One sequential chain per sum ran at a quarter
// of memory speed, and GCC does not vectorise lanes written as arrays at -O3.
constexpr size_t kLanes = 8;

struct Lanes {
  double sig[kLanes] = {}, err[kLanes] = {}, mx[kLanes] = {};
};

#if defined(__SSE2__)
// x86-64's baseline: lanes (2k, 2k+1) in one register.
size_t AccumulateBlocks(const float* o, const float* d, size_t n, Lanes* l) {
  __m128d sig[4], err[4], mx[4];
  for (int k = 0; k < 4; ++k) sig[k] = err[k] = mx[k] = _mm_setzero_pd();
  const __m128d abs_mask = _mm_castsi128_pd(_mm_set1_epi64x(INT64_MAX));
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int k = 0; k < 4; ++k) {
      const __m128d x =
          _mm_cvtps_pd(_mm_castsi128_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(o + i + 2 * k))));
      const __m128d y =
          _mm_cvtps_pd(_mm_castsi128_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(d + i + 2 * k))));
      const __m128d e = _mm_sub_pd(x, y);
      sig[k] = _mm_add_pd(sig[k], _mm_mul_pd(x, x));
      err[k] = _mm_add_pd(err[k], _mm_mul_pd(e, e));
      mx[k] = _mm_max_pd(mx[k], _mm_and_pd(e, abs_mask));  // values are finite: max is exact
    }
  }
  for (int k = 0; k < 4; ++k) {
    _mm_storeu_pd(l->sig + 2 * k, sig[k]);
    _mm_storeu_pd(l->err + 2 * k, err[k]);
    _mm_storeu_pd(l->mx + 2 * k, mx[k]);
  }
  return i;
}
#else
size_t AccumulateBlocks(const float* o, const float* d, size_t n, Lanes* l) {
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (size_t k = 0; k < kLanes; ++k) {
      const double x = o[i + k];
      const double e = x - static_cast<double>(d[i + k]);
      l->sig[k] += x * x;
      l->err[k] += e * e;
      l->mx[k] = std::max(l->mx[k], std::fabs(e));
    }
  }
  return i;
}
#endif

#if QUANTD_X86_VARIANTS
// AVX2 and AVX-512: the eight lanes as one vector of doubles per sum (GCC and Clang vector
// types; SSE2 lowers their compare-select badly, hence its intrinsics above). Same operations per
// lane in the same order: the same bits.
QUANTD_ALWAYS_INLINE size_t AccumulateBlocksWide(const float* o, const float* d, size_t n, Lanes* l) {
  using F8 = float __attribute__((vector_size(32)));
  using D8 = double __attribute__((vector_size(64)));
  using I8 = int64_t __attribute__((vector_size(64)));
  const I8 abs_mask = I8{} + INT64_MAX;
  D8 sig = {}, err = {}, mx = {};
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    F8 fo, fd;
    memcpy(&fo, o + i, sizeof(fo));
    memcpy(&fd, d + i, sizeof(fd));
    const D8 x = __builtin_convertvector(fo, D8);
    const D8 e = x - __builtin_convertvector(fd, D8);
    sig += x * x;
    err += e * e;
    const D8 ae = reinterpret_cast<D8>(reinterpret_cast<I8>(e) & abs_mask);
    mx = mx < ae ? ae : mx;
  }
  memcpy(l->sig, &sig, sizeof(sig));
  memcpy(l->err, &err, sizeof(err));
  memcpy(l->mx, &mx, sizeof(mx));
  return i;
}
QUANTD_TARGET_AVX2 size_t AccumulateBlocksAvx2(const float* o, const float* d, size_t n, Lanes* l) {
  return AccumulateBlocksWide(o, d, n, l);
}
QUANTD_TARGET_AVX512 size_t AccumulateBlocksAvx512(const float* o, const float* d, size_t n, Lanes* l) {
  return AccumulateBlocksWide(o, d, n, l);
}
#endif

size_t AccumulateBlocksFor(Isa isa, const float* o, const float* d, size_t n, Lanes* l) {
#if QUANTD_X86_VARIANTS
  isa = ResolveIsa(isa);
  if (isa == Isa::kAvx512) return AccumulateBlocksAvx512(o, d, n, l);
  if (isa == Isa::kAvx2) return AccumulateBlocksAvx2(o, d, n, l);
#endif
  return AccumulateBlocks(o, d, n, l);
}

}  // namespace

namespace metrics_internal {

ErrorSums ComputeErrorSums(Isa isa, std::span<const float> original, std::span<const float> decoded) {
  Lanes l;
  const size_t n = original.size();
  size_t i = AccumulateBlocksFor(isa, original.data(), decoded.data(), n, &l);
  ErrorSums s;
  s.count = static_cast<int64_t>(n);
  for (size_t k = 0; k < kLanes; ++k) {
    s.signal_energy += l.sig[k];
    s.error_energy += l.err[k];
    s.max_abs_error = std::max(s.max_abs_error, l.mx[k]);
  }
  for (; i < n; ++i) {
    const double x = original[i];
    const double e = x - static_cast<double>(decoded[i]);
    s.signal_energy += x * x;
    s.error_energy += e * e;
    s.max_abs_error = std::max(s.max_abs_error, std::fabs(e));
  }
  return s;
}

}  // namespace metrics_internal

ErrorSums ComputeErrorSums(std::span<const float> original, std::span<const float> decoded) {
  return metrics_internal::ComputeErrorSums(Isa::kAuto, original, decoded);
}

ErrorSums ComputeBlockErrorSums(std::span<const float> original, std::span<const float> decoded,
                                int64_t cols) {
  ErrorSums total;
  for (size_t r = 0; cols > 0 && r < original.size(); r += static_cast<size_t>(cols)) {
    total.Add(ComputeErrorSums(original.subspan(r, static_cast<size_t>(cols)),
                               decoded.subspan(r, static_cast<size_t>(cols))));
  }
  return total;
}

Metrics MetricsFromSums(const ErrorSums& s, double bits_per_weight) {
  Metrics m;
  m.count = s.count;
  m.bits_per_weight = bits_per_weight;
  m.max_abs_error = s.max_abs_error;
  if (s.count > 0) m.mse = s.error_energy / static_cast<double>(s.count);
  if (s.signal_energy > 0) {
    m.relative_error = std::sqrt(s.error_energy / s.signal_energy);
  } else {
    m.relative_error = s.error_energy > 0 ? std::numeric_limits<double>::infinity() : 0.0;
  }
  if (s.error_energy > 0) {
    m.sqnr_db = s.signal_energy > 0 ? 10.0 * std::log10(s.signal_energy / s.error_energy)
                                    : -std::numeric_limits<double>::infinity();
  } else {
    m.sqnr_db = std::numeric_limits<double>::infinity();
  }
  return m;
}

}  // namespace quantd
