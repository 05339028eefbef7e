// File: orthogonal.h
//
// Seeded Haar-random orthogonal matrices for Kashin quantization's `qr` transform (the paper's
// default): Q from the QR factorisation of an n x n Gaussian matrix G, with the sign fix
// Q <- Q diag(sign(R_jj)) that makes Q exactly Haar-distributed (Mezzadri 2007; the authors'
// code omits it).
//
// G[i][j] = SeededGaussian(seed, i * n + j): Box-Muller over seed.h's SeededUniform, so the same
// seed gives the same matrix on any machine (up to the last bits of libm's log/cos). The QR is
// Householder in double, O(n^3): about 1 s for n = 1024 and a minute for n = 4096 per core,
// which is why Kashin caches the matrices it builds (transform.h) and limits their size.
#ifndef QUANTD_CORE_KASHIN_ORTHOGONAL_H_
#define QUANTD_CORE_KASHIN_ORTHOGONAL_H_

#include <cstdint>
#include <vector>

namespace quantd::kashin_internal {

// A standard normal value, the index-th of stream kStreamGaussian under `seed`:
// sqrt(-2 ln(1 - u1)) cos(2 pi u2) with u1, u2 the uniforms 2*index and 2*index + 1.
double SeededGaussian(uint64_t seed, uint64_t index);

// The n x n Haar orthogonal matrix for `seed`, column-major (column j at [j*n, (j+1)*n)).
// Columns are processed in parallel (quantd::ParallelFor); the result does not depend on the
// number of threads. REQUIRES: n >= 1 and n*n doubles fit in memory.
std::vector<double> RandomOrthogonal(int64_t n, uint64_t seed);

}  // namespace quantd::kashin_internal

#endif  // QUANTD_CORE_KASHIN_ORTHOGONAL_H_
