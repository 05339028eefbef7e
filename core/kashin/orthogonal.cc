#include "core/kashin/orthogonal.h"

#include <cmath>
#include <numbers>

#include "core/common/dot.h"
#include "core/common/parallel.h"
#include "core/common/seed.h"

namespace quantd::kashin_internal {
namespace {

// y <- y - 2 v (v . y) for the columns [j0, j1) of a column-major n x n matrix, rows [k, n):
// the Householder reflection I - 2 v v^T with |v| = 1.
void Reflect(const double* v, int64_t k, int64_t n, double* a, int64_t j0, int64_t j1) {
  const int64_t len = n - k;
  ParallelFor(j0, j1, std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(1, len)),
              [&](int64_t b, int64_t e) {
                for (int64_t j = b; j < e; ++j) {
                  double* col = a + j * n + k;
                  const double t = 2.0 * DotFixedOrder(v, col, len);
                  for (int64_t i = 0; i < len; ++i) col[i] -= t * v[i];
                }
              });
}

}  // namespace

double SeededGaussian(uint64_t seed, uint64_t index) {
  const double u1 = SeededUniform(seed, kStreamGaussian, 2 * index);
  const double u2 = SeededUniform(seed, kStreamGaussian, 2 * index + 1);
  return std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

std::vector<double> RandomOrthogonal(int64_t n, uint64_t seed) {
  const size_t nn = static_cast<size_t>(n) * static_cast<size_t>(n);
  // a = G, column-major: a[j*n + i] = G[i][j].
  std::vector<double> a(nn);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      a[static_cast<size_t>(j * n + i)] = SeededGaussian(seed, static_cast<uint64_t>(i * n + j));
    }
  }
  // Householder QR: step k reflects rows [k, n) so that column k becomes (r_kk, 0, ..., 0).
  // v_k is stored in place of the zeroed column; sign_r[k] = sign(r_kk).
  std::vector<double> sign_r(static_cast<size_t>(n), 1.0);
  for (int64_t k = 0; k < n; ++k) {
    double* x = a.data() + k * n + k;
    const int64_t len = n - k;
    const double norm = std::sqrt(DotFixedOrder(x, x, len));
    if (norm == 0) {  // probability zero for Gaussian input; keep v = 0 (no reflection)
      continue;
    }
    const double alpha = x[0] >= 0 ? -norm : norm;  // r_kk; v = x - alpha e1 never cancels
    sign_r[static_cast<size_t>(k)] = alpha > 0 ? 1.0 : -1.0;
    x[0] -= alpha;
    const double vnorm = std::sqrt(DotFixedOrder(x, x, len));
    for (int64_t i = 0; i < len; ++i) x[i] /= vnorm;
    Reflect(x, k, n, a.data(), k + 1, n);
  }
  // Q = H_0 H_1 ... H_{n-1}, accumulated backwards on the identity: H_k only touches rows and
  // columns >= k of the partial product.
  std::vector<double> q(nn, 0.0);
  for (int64_t i = 0; i < n; ++i) q[static_cast<size_t>(i * n + i)] = 1.0;
  for (int64_t k = n - 1; k >= 0; --k) {
    const double* v = a.data() + k * n + k;
    bool zero = true;
    for (int64_t i = 0; i < n - k && zero; ++i) zero = v[i] == 0;
    if (!zero) Reflect(v, k, n, q.data(), k, n);
  }
  // Sign fix: Q diag(sign r_jj), so that R has a positive diagonal and Q is Haar.
  for (int64_t j = 0; j < n; ++j) {
    if (sign_r[static_cast<size_t>(j)] < 0) {
      for (int64_t i = 0; i < n; ++i) q[static_cast<size_t>(j * n + i)] = -q[static_cast<size_t>(j * n + i)];
    }
  }
  return q;
}

}  // namespace quantd::kashin_internal
