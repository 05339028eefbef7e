// File: dct_steps.h
//
// The per-element steps of the FFT (fft.cc) and the DCT (dct.cc), written once for the CPU
// plans' loops and the CUDA kernels' block-parallel form (dct_block.h): every output element is
// one call, so the CPU and the GPU compute the same float expressions in the same order and their
// transforms agree bit for bit. The CPU loops stay contiguous over the element index, so the
// compiler inlines and vectorises these as it did the open-coded loops.
#ifndef QUANTD_CORE_KASHIN_DCT_STEPS_H_
#define QUANTD_CORE_KASHIN_DCT_STEPS_H_

#include <cstdint>

#include "quantd/core/dtype.h"  // QUANTD_HOST_DEVICE

namespace quantd::kashin_internal {

// One radix-4 butterfly: b_r = sum_q a_q (-i)^(q r), before the twiddles.
template <typename T>
struct Radix4Out {
  T b0r, b0i, b1r, b1i, b2r, b2i, b3r, b3i;
};
template <typename T>
QUANTD_HOST_DEVICE inline Radix4Out<T> Radix4Butterfly(T a0r, T a0i, T a1r, T a1i, T a2r, T a2i, T a3r,
                                                       T a3i) {
  const T t0r = a0r + a2r, t0i = a0i + a2i, t1r = a0r - a2r, t1i = a0i - a2i;
  const T t2r = a1r + a3r, t2i = a1i + a3i, t3r = a1r - a3r, t3i = a1i - a3i;
  return {t0r + t2r, t0i + t2i, t1r + t3i, t1i - t3r, t0r - t2r, t0i - t2i, t1r - t3i, t1i + t3r};
}

// (br + i bi) (wr + i wi), real and imaginary parts.
template <typename T>
QUANTD_HOST_DEVICE inline T TwiddleRe(T br, T bi, T wr, T wi) {
  return br * wr - bi * wi;
}
template <typename T>
QUANTD_HOST_DEVICE inline T TwiddleIm(T br, T bi, T wr, T wi) {
  return br * wi + bi * wr;
}

// --- the DCT of length n (half = n / 2 for even n) --------------------------------------------

// Makhoul's reordering: v[k] = x[2k] for k < ceil(n/2), v[n-1-j] = x[2j+1]; the index of x that
// lands at v[k].
QUANTD_HOST_DEVICE inline int64_t MakhoulSource(int64_t k, int64_t n) {
  return 2 * k < n ? 2 * k : 2 * (n - 1 - k) + 1;
}

// Even n, forward, k in [0, h]: untangles the half-length DFT Z of z[k] = v[2k] + i v[2k+1] into
// V[k] = E[k] + t^k O[k], then writes X[k] = Re(shift[k] V[k]) and X[n-k] = -Im(shift[k] V[k]).
template <typename T>
QUANTD_HOST_DEVICE inline void DctUntangle(int64_t k, int64_t h, int64_t n, const T* zr, const T* zi,
                                           const T* twr, const T* twi, const T* shr, const T* shi, T* x) {
  const int64_t a = k == h ? 0 : k;
  const int64_t c = k == 0 ? 0 : h - k;
  const T ar = zr[a], ai = zi[a], cr = zr[c], ci = -zi[c];  // Z[k] and conj(Z[h-k])
  const T er = (ar + cr) * T(0.5), ei = (ai + ci) * T(0.5);
  const T or_ = (ai - ci) * T(0.5), oi = (cr - ar) * T(0.5);  // (Z - conj Z') / 2i
  const T vr = er + twr[k] * or_ - twi[k] * oi;
  const T vi = ei + twr[k] * oi + twi[k] * or_;
  const T pr = shr[k] * vr - shi[k] * vi;
  const T pi = shr[k] * vi + shi[k] * vr;
  x[k] = pr;
  if (k > 0 && k < h) x[n - k] = -pi;
}

// Inverse, k in [0, count): V[k] = ishift[k] (X[k] - i X[n-k]).
template <typename T>
QUANTD_HOST_DEVICE inline void DctInverseShift(int64_t k, int64_t n, const T* x, const T* ishr, const T* ishi,
                                               T* vr, T* vi) {
  const T xr = x[k], xi = k == 0 ? T(0) : -x[n - k];
  vr[k] = ishr[k] * xr - ishi[k] * xi;
  vi[k] = ishr[k] * xi + ishi[k] * xr;
}

// Even n, inverse, k in [0, h): Z[k] = E[k] + i O[k] with E = (V[k] + conj V[h-k]) / 2 and
// O = (V[k] - conj V[h-k]) conj(t^k) / 2.
template <typename T>
QUANTD_HOST_DEVICE inline void DctTangle(int64_t k, int64_t h, const T* vr, const T* vi, const T* twr,
                                         const T* twi, T* zr, T* zi) {
  const T ar = vr[k], ai = vi[k], cr = vr[h - k], ci = -vi[h - k];
  const T er = (ar + cr) * T(0.5), ei = (ai + ci) * T(0.5);
  const T dr = (ar - cr) * T(0.5), di = (ai - ci) * T(0.5);
  const T or_ = dr * twr[k] + di * twi[k];
  const T oi = di * twr[k] - dr * twi[k];
  zr[k] = er - oi;
  zi[k] = ei + or_;
}

// Even n, the inverse reordering, k in [0, h): z[k] = v[2k] + i v[2k+1] back into x.
template <typename T>
QUANTD_HOST_DEVICE inline void DctScatterEven(int64_t k, int64_t n, const T* zr, const T* zi, T* x) {
  x[MakhoulSource(2 * k, n)] = zr[k];
  x[MakhoulSource(2 * k + 1, n)] = zi[k];
}

}  // namespace quantd::kashin_internal

#endif  // QUANTD_CORE_KASHIN_DCT_STEPS_H_
