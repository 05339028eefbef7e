// File: hadamard_block.h
//
// The randomized Hadamard transform of hadamard.h on one vector held in a thread block's shared
// memory, written once for the device and the host: `threads` threads of index `tid` cooperate
// and `sync()` is their barrier (__syncthreads on the device; the tests run host threads with a
// std::barrier, or one "thread" with a no-op). Butterflies of one stage touch disjoint pairs, so
// any assignment of them to threads gives the float results of hadamard.cc's sequential loops,
// bit for bit: the transforms the CUDA encoders run are the CPU's.
//
// Parameters: s holds the n values; p is the largest power of two <= n; scale is
// float(1 / sqrt(double(p))), as hadamard.cc computes it; signs is D (n entries) and
// second_signs E (p entries, unused when p == n).
#ifndef QUANTD_CORE_COMMON_HADAMARD_BLOCK_H_
#define QUANTD_CORE_COMMON_HADAMARD_BLOCK_H_

#include "quantd/core/dtype.h"  // QUANTD_HOST_DEVICE

namespace quantd {

// The orthonormal Walsh-Hadamard transform of s[0, p): radix-2 stages h = 1, 2, 4, ..., then
// the scale.
template <typename Sync>
QUANTD_HOST_DEVICE inline void FwhtInBlock(float* s, int p, float scale, int tid, int threads, Sync& sync) {
  for (int h = 1; h < p; h <<= 1) {
    for (int t = tid; t < p / 2; t += threads) {
      const int i = ((t & ~(h - 1)) << 1) | (t & (h - 1));  // (t / h) * 2h + t % h
      const float u = s[i];
      const float v = s[i + h];
      s[i] = u + v;
      s[i + h] = u - v;
    }
    sync();
  }
  for (int i = tid; i < p; i += threads) s[i] *= scale;
  sync();
}

// s <- Q s (RandomizedHadamard::Forward). Callers sync before (s filled) as usual; returns
// after a barrier.
template <typename Sync>
QUANTD_HOST_DEVICE inline void HadamardForwardInBlock(float* s, int n, int p, const float* signs,
                                                      const float* second_signs, float scale, int tid,
                                                      int threads, Sync& sync) {
  for (int i = tid; i < n; i += threads) s[i] *= signs[i];
  sync();
  FwhtInBlock(s, p, scale, tid, threads, sync);
  if (p != n) {
    float* tail = s + (n - p);
    for (int i = tid; i < p; i += threads) tail[i] *= second_signs[i];
    sync();
    FwhtInBlock(tail, p, scale, tid, threads, sync);
  }
}

// s <- Q^T s (RandomizedHadamard::Inverse): the steps of Forward in reverse order.
template <typename Sync>
QUANTD_HOST_DEVICE inline void HadamardInverseInBlock(float* s, int n, int p, const float* signs,
                                                      const float* second_signs, float scale, int tid,
                                                      int threads, Sync& sync) {
  if (p != n) {
    float* tail = s + (n - p);
    FwhtInBlock(tail, p, scale, tid, threads, sync);
    for (int i = tid; i < p; i += threads) tail[i] *= second_signs[i];
    sync();
  }
  FwhtInBlock(s, p, scale, tid, threads, sync);
  for (int i = tid; i < n; i += threads) s[i] *= signs[i];
  sync();
}

}  // namespace quantd

#endif  // QUANTD_CORE_COMMON_HADAMARD_BLOCK_H_
