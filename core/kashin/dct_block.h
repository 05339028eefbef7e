// File: dct_block.h
//
// DctPlan<float>'s Forward and Inverse (dct.h, fft.h) on one vector held in a thread block's
// shared memory, written once for the device and the host, for Kashin's CUDA kernels: `threads`
// threads of index `tid` cooperate, `sync()` is their barrier (hadamard_block.h explains the
// convention). The constants come from DctPlan<float>::Export, read at `base`.
//
// Every output of a Stockham stage, of the Makhoul reordering and of the untangling step is
// computed by one thread with the float operations of dct.cc and fft.cc in their order (the
// CPU's vectorised and scalar paths of each radix compute the same expressions), so the results
// are the CPU plan's, bit for bit (tests/core/kashin_kernels_test.cc).
#ifndef QUANTD_CORE_KASHIN_DCT_BLOCK_H_
#define QUANTD_CORE_KASHIN_DCT_BLOCK_H_

#include "kashin/dct.h"
#include "kashin/fft.h"
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
QUANTD_HOST_DEVICE inline void StockhamButterfly(const float* sr, const float* si, float* dr, float* di, int p, int l,
                                                 int mp, const float* wr, const float* wi, const float* rr,
                                                 const float* ri, int j, int k) {
  const int m = p * mp;
  if (p == 2) {
    const float xr = sr[j * m + k], xi = si[j * m + k], yr = sr[j * m + k + mp], yi = si[j * m + k + mp];
    dr[j * mp + k] = xr + yr;
    di[j * mp + k] = xi + yi;
    const float br = xr - yr, bi = xi - yi;
    dr[(j + l) * mp + k] = br * wr[k] - bi * wi[k];
    di[(j + l) * mp + k] = br * wi[k] + bi * wr[k];
    return;
  }
  if (p == 4) {
    const int s = j * m + k;
    const float a0r = sr[s], a0i = si[s], a1r = sr[s + mp], a1i = si[s + mp];
    const float a2r = sr[s + 2 * mp], a2i = si[s + 2 * mp], a3r = sr[s + 3 * mp], a3i = si[s + 3 * mp];
    const float t0r = a0r + a2r, t0i = a0i + a2i, t1r = a0r - a2r, t1i = a0i - a2i;
    const float t2r = a1r + a3r, t2i = a1i + a3i, t3r = a1r - a3r, t3i = a1i - a3i;
    const float b0r = t0r + t2r, b0i = t0i + t2i, b2r = t0r - t2r, b2i = t0i - t2i;
    const float b1r = t1r + t3i, b1i = t1i - t3r, b3r = t1r - t3i, b3i = t1i + t3r;
    const float c1r = wr[k], c1i = wi[k], c2r = wr[mp + k], c2i = wi[mp + k], c3r = wr[2 * mp + k],
                c3i = wi[2 * mp + k];
    const int d = j * mp + k;
    dr[d] = b0r;
    di[d] = b0i;
    dr[d + l * mp] = b1r * c1r - b1i * c1i;
    di[d + l * mp] = b1r * c1i + b1i * c1r;
    dr[d + 2 * l * mp] = b2r * c2r - b2i * c2i;
    di[d + 2 * l * mp] = b2r * c2i + b2i * c2r;
    dr[d + 3 * l * mp] = b3r * c3r - b3i * c3i;
    di[d + 3 * l * mp] = b3r * c3i + b3i * c3r;
    return;
  }
  // An odd prime p <= FftPlan::kMaxDirectRadix: the direct DFT of the p inputs.
  for (int r = 0; r < p; ++r) {
    float br = sr[j * m + k], bi = si[j * m + k];
    for (int q = 1; q < p; ++q) {
      const int t = (q * r) % p;
      const float ar = sr[j * m + q * mp + k], ai = si[j * m + q * mp + k];
      br += ar * rr[t] - ai * ri[t];
      bi += ar * ri[t] + ai * rr[t];
    }
    const int d = (j + l * r) * mp + k;
    if (r == 0) {
      dr[d] = br;
      di[d] = bi;
    } else {
      const float cr = wr[(r - 1) * mp + k], ci = wi[(r - 1) * mp + k];
      dr[d] = br * cr - bi * ci;
      di[d] = br * ci + bi * cr;
    }
  }
}

// FftPlan::Stockham on (re, im), t.n values each; work: 2 t.n floats.
template <typename Sync>
QUANTD_HOST_DEVICE inline void StockhamInBlock(const StockhamTables& t, const float* base, float* re, float* im,
                                               float* work, int tid, int threads, Sync& sync) {
  float *sr = re, *si = im, *dr = work, *di = work + t.n;
  for (int s = 0; s < t.count; ++s) {
    const int p = t.radix[s], l = t.l[s], mp = t.m[s] / p;
    const float* wr = base + t.tw_at[s];
    const float* wi = wr + (p - 1) * mp;
    const float* rr = base + t.roots_at[s];
    const float* ri = rr + p;
    for (int b = tid; b < l * mp; b += threads) StockhamButterfly(sr, si, dr, di, p, l, mp, wr, wi, rr, ri, b / mp, b % mp);
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
QUANTD_HOST_DEVICE inline void FftInBlock(const FftTables& t, const float* base, float* re, float* im, float* work,
                                          int tid, int threads, Sync& sync) {
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
      ar[j] = re[j] * chr[j] - im[j] * chi[j];
      ai[j] = re[j] * chi[j] + im[j] * chr[j];
    } else {
      ar[j] = 0;
      ai[j] = 0;
    }
  }
  sync();
  StockhamInBlock(t.inner, base, ar, ai, rest, tid, threads, sync);
  for (int j = tid; j < big; j += threads) {
    const float xr = ar[j], xi = ai[j];
    ar[j] = xr * kr[j] - xi * ki[j];
    ai[j] = xr * ki[j] + xi * kr[j];
  }
  sync();
  StockhamInBlock(t.inner, base, ai, ar, rest, tid, threads, sync);  // the unscaled inverse
  for (int k = tid; k < n; k += threads) {
    re[k] = ar[k] * chr[k] - ai[k] * chi[k];
    im[k] = ar[k] * chi[k] + ai[k] * chr[k];
  }
  sync();
}

// x <- C x (DctPlan::Forward); work: DctWorkFloats(t).
template <typename Sync>
QUANTD_HOST_DEVICE inline void DctForwardInBlock(const DctTables& t, const float* base, float* x, float* work, int tid,
                                                 int threads, Sync& sync) {
  const int n = t.n;
  if (n == 1) return;
  const float* shr = base + t.shift_at;
  if (t.half == 0) {
    const float* shi = shr + n;
    float* re = work;
    float* im = work + n;
    for (int k = tid; k < n; k += threads) {
      re[k] = k < (n + 1) / 2 ? x[2 * k] : x[2 * (n - 1 - k) + 1];
      im[k] = 0;
    }
    sync();
    FftInBlock(t.fft, base, re, im, im + n, tid, threads, sync);
    for (int k = tid; k < n; k += threads) x[k] = shr[k] * re[k] - shi[k] * im[k];
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
    const int a = 2 * k, b = 2 * k + 1;
    zr[k] = a < h ? x[2 * a] : x[2 * (n - 1 - a) + 1];
    zi[k] = b < h ? x[2 * b] : x[2 * (n - 1 - b) + 1];
  }
  sync();
  FftInBlock(t.fft, base, zr, zi, zi + h, tid, threads, sync);
  for (int k = tid; k <= h; k += threads) {
    const int a = k == h ? 0 : k;
    const int c = k == 0 ? 0 : h - k;
    const float ar = zr[a], ai = zi[a], cr = zr[c], ci = -zi[c];
    const float er = (ar + cr) * 0.5f, ei = (ai + ci) * 0.5f;
    const float or_ = (ai - ci) * 0.5f, oi = (cr - ar) * 0.5f;
    const float vr = er + twr[k] * or_ - twi[k] * oi;
    const float vi = ei + twr[k] * oi + twi[k] * or_;
    const float pr = shr[k] * vr - shi[k] * vi;
    const float pi = shr[k] * vi + shi[k] * vr;
    x[k] = pr;
    if (k > 0 && k < h) x[n - k] = -pi;
  }
  sync();
}

// x <- C^T x (DctPlan::Inverse); work: DctWorkFloats(t).
template <typename Sync>
QUANTD_HOST_DEVICE inline void DctInverseInBlock(const DctTables& t, const float* base, float* x, float* work, int tid,
                                                 int threads, Sync& sync) {
  const int n = t.n;
  if (n == 1) return;
  const float* ishr = base + t.ishift_at;
  if (t.half == 0) {
    const float* ishi = ishr + n;
    float* re = work;
    float* im = work + n;
    for (int k = tid; k < n; k += threads) {
      const float xr = x[k], xi = k == 0 ? 0.0f : -x[n - k];
      re[k] = ishr[k] * xr - ishi[k] * xi;
      im[k] = ishr[k] * xi + ishi[k] * xr;
    }
    sync();
    FftInBlock(t.fft, base, im, re, im + n, tid, threads, sync);  // the unscaled inverse
    for (int k = tid; k < n; k += threads) x[k] = k % 2 == 0 ? re[k / 2] : re[n - 1 - k / 2];
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
  for (int k = tid; k <= h; k += threads) {
    const float xr = x[k], xi = k == 0 ? 0.0f : -x[n - k];
    vr[k] = ishr[k] * xr - ishi[k] * xi;
    vi[k] = ishr[k] * xi + ishi[k] * xr;
  }
  sync();
  for (int k = tid; k < h; k += threads) {
    const float ar = vr[k], ai = vi[k], cr = vr[h - k], ci = -vi[h - k];
    const float er = (ar + cr) * 0.5f, ei = (ai + ci) * 0.5f;
    const float dr = (ar - cr) * 0.5f, di = (ai - ci) * 0.5f;
    const float or_ = dr * twr[k] + di * twi[k];
    const float oi = di * twr[k] - dr * twi[k];
    zr[k] = er - oi;
    zi[k] = ei + or_;
  }
  sync();
  FftInBlock(t.fft, base, zi, zr, zi + h, tid, threads, sync);  // the unscaled inverse
  for (int k = tid; k < h; k += threads) {
    const int a = 2 * k, b = 2 * k + 1;
    if (a < h) {
      x[2 * a] = zr[k];
    } else {
      x[2 * (n - 1 - a) + 1] = zr[k];
    }
    if (b < h) {
      x[2 * b] = zi[k];
    } else {
      x[2 * (n - 1 - b) + 1] = zi[k];
    }
  }
  sync();
}

}  // namespace quantd::kashin_internal

#endif  // QUANTD_CORE_KASHIN_DCT_BLOCK_H_
