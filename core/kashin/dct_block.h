// File: dct_block.h
//
// DctPlan<float>'s Forward and Inverse (dct.h, fft.h) on one vector held in a thread block's
// shared memory, written once for the device and the host, for Kashin's CUDA kernels: `threads`
// threads of index `tid` cooperate, `sync()` is their barrier (hadamard_block.h explains the
// convention). The constants come from DctPlan<float>::Export, read at `base`.
//
// Every output of a Stockham stage, of the Makhoul reordering and of the untangling step is
// computed by one thread through the same per-element steps as dct.cc and fft.cc (dct_steps.h),
// so the results are the CPU plan's, bit for bit (tests/core/kashin_kernels_test.cc).
#ifndef QUANTD_CORE_KASHIN_DCT_BLOCK_H_
#define QUANTD_CORE_KASHIN_DCT_BLOCK_H_

#include "core/kashin/dct.h"
#include "core/kashin/dct_steps.h"
#include "core/kashin/fft.h"
#include "quantd/core/dtype.h"  // QUANTD_HOST_DEVICE

namespace quantd::kashin_internal {

// Floats of work space a Stockham transform of t needs besides its data: the other buffer.
QUANTD_HOST_DEVICE inline int FftWorkFloats(const FftTables& t) { return t.bluestein ? 4 * t.big : 2 * t.n; }

// Floats of work space DctForwardInBlock and DctInverseInBlock need (the larger of the two).
QUANTD_HOST_DEVICE inline int DctWorkFloats(const DctTables& t) {
  if (t.n == 1) return 0;
  return (t.half > 0 ? 4 * t.half + 2 : 2 * t.n) + FftWorkFloats(t.fft);
}

// One output group of a Stockham stage: butterfly (j, k) of radix p.
QUANTD_HOST_DEVICE inline void StockhamButterfly(const float* sr, const float* si, float* dr, float* di,
                                                 int p, int l, int mp, const float* wr, const float* wi,
                                                 const float* rr, const float* ri, int j, int k) {
  const int m = p * mp;
  if (p == 2) {
    const float xr = sr[j * m + k], xi = si[j * m + k], yr = sr[j * m + k + mp], yi = si[j * m + k + mp];
    dr[j * mp + k] = xr + yr;
    di[j * mp + k] = xi + yi;
    const float br = xr - yr, bi = xi - yi;
    dr[(j + l) * mp + k] = TwiddleRe(br, bi, wr[k], wi[k]);
    di[(j + l) * mp + k] = TwiddleIm(br, bi, wr[k], wi[k]);
    return;
  }
  if (p == 4) {
    const int s = j * m + k;
    const Radix4Out<float> b = Radix4Butterfly(sr[s], si[s], sr[s + mp], si[s + mp], sr[s + 2 * mp],
                                               si[s + 2 * mp], sr[s + 3 * mp], si[s + 3 * mp]);
    const int d = j * mp + k;
    dr[d] = b.b0r;
    di[d] = b.b0i;
    dr[d + l * mp] = TwiddleRe(b.b1r, b.b1i, wr[k], wi[k]);
    di[d + l * mp] = TwiddleIm(b.b1r, b.b1i, wr[k], wi[k]);
    dr[d + 2 * l * mp] = TwiddleRe(b.b2r, b.b2i, wr[mp + k], wi[mp + k]);
    di[d + 2 * l * mp] = TwiddleIm(b.b2r, b.b2i, wr[mp + k], wi[mp + k]);
    dr[d + 3 * l * mp] = TwiddleRe(b.b3r, b.b3i, wr[2 * mp + k], wi[2 * mp + k]);
    di[d + 3 * l * mp] = TwiddleIm(b.b3r, b.b3i, wr[2 * mp + k], wi[2 * mp + k]);
    return;
  }
  // An odd prime p <= FftPlan::kMaxDirectRadix: the direct DFT of the p inputs.
  for (int r = 0; r < p; ++r) {
    float br = sr[j * m + k], bi = si[j * m + k];
    for (int q = 1; q < p; ++q) {
      const int t = (q * r) % p;
      const float ar = sr[j * m + q * mp + k], ai = si[j * m + q * mp + k];
      br += TwiddleRe(ar, ai, rr[t], ri[t]);
      bi += TwiddleIm(ar, ai, rr[t], ri[t]);
    }
    const int d = (j + l * r) * mp + k;
    if (r == 0) {
      dr[d] = br;
      di[d] = bi;
    } else {
      const float cr = wr[(r - 1) * mp + k], ci = wi[(r - 1) * mp + k];
      dr[d] = TwiddleRe(br, bi, cr, ci);
      di[d] = TwiddleIm(br, bi, cr, ci);
    }
  }
}

// FftPlan::Stockham on (re, im), t.n values each; work: 2 t.n floats.
template <typename Sync>
QUANTD_HOST_DEVICE inline void StockhamInBlock(const StockhamTables& t, const float* base, float* re,
                                               float* im, float* work, int tid, int threads, Sync& sync) {
  float *sr = re, *si = im, *dr = work, *di = work + t.n;
  for (int s = 0; s < t.count; ++s) {
    const int p = t.radix[s], l = t.l[s], mp = t.m[s] / p;
    const float* wr = base + t.tw_at[s];
    const float* wi = wr + (p - 1) * mp;
    const float* rr = base + t.roots_at[s];
    const float* ri = rr + p;
    for (int b = tid; b < l * mp; b += threads)
      StockhamButterfly(sr, si, dr, di, p, l, mp, wr, wi, rr, ri, b / mp, b % mp);
    sync();
    float* x = sr;
    sr = dr;
    dr = x;
    x = si;
    si = di;
    di = x;
  }
  if (sr != re) {
    for (int i = tid; i < t.n; i += threads) {
      re[i] = sr[i];
      im[i] = si[i];
    }
    sync();
  }
}

// FftPlan::Forward on (re, im); work: FftWorkFloats(t).
template <typename Sync>
QUANTD_HOST_DEVICE inline void FftInBlock(const FftTables& t, const float* base, float* re, float* im,
                                          float* work, int tid, int threads, Sync& sync) {
  if (!t.bluestein) {
    StockhamInBlock(t.direct, base, re, im, work, tid, threads, sync);
    return;
  }
  const int n = t.n, big = t.big;
  float* ar = work;
  float* ai = work + big;
  float* rest = work + 2 * big;
  const float* chr = base + t.chirp_at;
  const float* chi = chr + n;
  const float* kr = base + t.kernel_at;
  const float* ki = kr + big;
  for (int j = tid; j < big; j += threads) {
    if (j < n) {
      ar[j] = TwiddleRe(re[j], im[j], chr[j], chi[j]);
      ai[j] = TwiddleIm(re[j], im[j], chr[j], chi[j]);
    } else {
      ar[j] = 0;
      ai[j] = 0;
    }
  }
  sync();
  StockhamInBlock(t.inner, base, ar, ai, rest, tid, threads, sync);
  for (int j = tid; j < big; j += threads) {
    const float xr = ar[j], xi = ai[j];
    ar[j] = TwiddleRe(xr, xi, kr[j], ki[j]);
    ai[j] = TwiddleIm(xr, xi, kr[j], ki[j]);
  }
  sync();
  StockhamInBlock(t.inner, base, ai, ar, rest, tid, threads, sync);  // the unscaled inverse
  for (int k = tid; k < n; k += threads) {
    re[k] = TwiddleRe(ar[k], ai[k], chr[k], chi[k]);
    im[k] = TwiddleIm(ar[k], ai[k], chr[k], chi[k]);
  }
  sync();
}

// x <- C x (DctPlan::Forward); work: DctWorkFloats(t).
template <typename Sync>
QUANTD_HOST_DEVICE inline void DctForwardInBlock(const DctTables& t, const float* base, float* x, float* work,
                                                 int tid, int threads, Sync& sync) {
  const int n = t.n;
  if (n == 1) return;
  const float* shr = base + t.shift_at;
  if (t.half == 0) {
    const float* shi = shr + n;
    float* re = work;
    float* im = work + n;
    for (int k = tid; k < n; k += threads) {
      re[k] = x[MakhoulSource(k, n)];
      im[k] = 0;
    }
    sync();
    FftInBlock(t.fft, base, re, im, im + n, tid, threads, sync);
    for (int k = tid; k < n; k += threads) x[k] = TwiddleRe(shr[k], shi[k], re[k], im[k]);
    sync();
    return;
  }
  const int h = t.half;
  const float* shi = shr + (h + 1);
  const float* twr = base + t.tw_at;
  const float* twi = twr + (h + 1);
  float* zr = work;
  float* zi = work + h;
  for (int k = tid; k < h; k += threads) {
    zr[k] = x[MakhoulSource(2 * k, n)];
    zi[k] = x[MakhoulSource(2 * k + 1, n)];
  }
  sync();
  FftInBlock(t.fft, base, zr, zi, zi + h, tid, threads, sync);
  for (int k = tid; k <= h; k += threads) DctUntangle<float>(k, h, n, zr, zi, twr, twi, shr, shi, x);
  sync();
}

// x <- C^T x (DctPlan::Inverse); work: DctWorkFloats(t).
template <typename Sync>
QUANTD_HOST_DEVICE inline void DctInverseInBlock(const DctTables& t, const float* base, float* x, float* work,
                                                 int tid, int threads, Sync& sync) {
  const int n = t.n;
  if (n == 1) return;
  const float* ishr = base + t.ishift_at;
  if (t.half == 0) {
    const float* ishi = ishr + n;
    float* re = work;
    float* im = work + n;
    for (int k = tid; k < n; k += threads) DctInverseShift<float>(k, n, x, ishr, ishi, re, im);
    sync();
    FftInBlock(t.fft, base, im, re, im + n, tid, threads, sync);  // the unscaled inverse
    for (int k = tid; k < n; k += threads) x[MakhoulSource(k, n)] = re[k];
    sync();
    return;
  }
  const int h = t.half;
  const float* ishi = ishr + (h + 1);
  const float* twr = base + t.tw_at;
  const float* twi = twr + (h + 1);
  float* vr = work;
  float* vi = vr + (h + 1);
  float* zr = vi + (h + 1);
  float* zi = zr + h;
  for (int k = tid; k <= h; k += threads) DctInverseShift<float>(k, n, x, ishr, ishi, vr, vi);
  sync();
  for (int k = tid; k < h; k += threads) DctTangle<float>(k, h, vr, vi, twr, twi, zr, zi);
  sync();
  FftInBlock(t.fft, base, zi, zr, zi + h, tid, threads, sync);  // the unscaled inverse
  for (int k = tid; k < h; k += threads) DctScatterEven<float>(k, n, zr, zi, x);
  sync();
}

}  // namespace quantd::kashin_internal

#endif  // QUANTD_CORE_KASHIN_DCT_BLOCK_H_
