// The Hessian-aware PVQ encoder (pvq.h): a GPTQ-style sweep over the groups of a row, in the
// rotated domain.
//
// Proxy loss. For a row w with reconstruction q and calibration inputs X, the output error is
// |X (w - q)|^2 = (w - q) H (w - q)^T with H = X^T X. With the row rotation R (x = R w), the loss
// is (x - q') H' (x - q')^T for H' = R H R^T, so the sweep runs on rotated rows against H'.
//
// GPTQ (Frantar et al. 2023) quantizes columns left to right and moves each column's error onto
// the columns not yet quantized, using U, the upper Cholesky factor of H'^-1. For groups quantized
// jointly (as PVQ does; GPTVQ's block form) the recursion is, with U_gg the diagonal block of
// group g:  Err_g = (w~_g - q_g) U_gg^-1,  w~_rest -= Err_g U_g,rest. Summing it up gives
// (w - q) = Err U, i.e. Err = (w - q) U^-1 = (w - q) V with V = U^-1, which is upper triangular
// with H' = V V^T. So the sweep needs only V (one Cholesky factorisation, of the reversed
// matrix), never an inverse:
//   acc_g = sum_{p < g} (w_p - q_p) V_pg          (pushed forward after each group)
//   w~_g  = w_g + acc_g V_gg^-1                    (a triangular solve)
//   loss  = sum_g |acc_g + (w_g - q_g) V_gg|^2 = sum_g |(w~_g - q_g) V_gg|^2 = (w - q) H' (w - q)^T
// Group g is quantized from w~_g: its direction by the ordinary pyramid search, its gain code by
// least squares in the group's metric M_g = V_gg V_gg^T (the level nearest to
// s = <u V_gg, w~_g V_gg> / |u V_gg|^2, u the unit direction). The row scale is fixed beforehand by
// the plain (unweighted) fit of the row, since every later group depends on it.
//
// Dampening: H' + damp * mean(diag H') * I (the mean diagonal is the same before and after the
// rotation). A Hessian that is not positive definite after it is rejected.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <exception>
#include <future>
#include <mutex>
#include <string>

#include "core/common/dot.h"
#include "core/common/hadamard.h"
#include "core/pvq/pvq.h"

namespace quantd::pvq_internal {
namespace {

using FactorResult = StatusOr<std::shared_ptr<const HessianFactor>>;

// Lower Cholesky factor of the n x n row-major matrix b in place (b = L L^T, L in the lower
// triangle), blocked so that the O(n^3) part runs on panels that stay in cache: per block column
// of kBlock, factor it, then subtract its outer product from the trailing lower triangle.
// Serial on purpose: the factor is computed while other row blocks of the same tensor wait for
// it (FactorHessian), and a thread inside a parallel loop may pick up one of those waiting
// tasks, which would then wait on itself.
bool CholeskyLower(double* b, int64_t n) {
  constexpr int64_t kBlock = 64;
  const size_t nn = static_cast<size_t>(n);
  auto at = [&](int64_t i, int64_t j) -> double& {
    return b[static_cast<size_t>(i) * nn + static_cast<size_t>(j)];
  };
  for (int64_t k0 = 0; k0 < n; k0 += kBlock) {
    const int64_t k1 = std::min(n, k0 + kBlock);
    for (int64_t j = k0; j < k1; ++j) {
      const double* rj = &at(j, k0);
      const double d = at(j, j) - DotFixedOrder(rj, rj, j - k0);
      if (!(d > 0) || !std::isfinite(d)) return false;
      const double ljj = std::sqrt(d);
      at(j, j) = ljj;
      for (int64_t i = j + 1; i < n; ++i) at(i, j) = (at(i, j) - DotFixedOrder(&at(i, k0), rj, j - k0)) / ljj;
    }
    for (int64_t i = k1; i < n; ++i) {
      const double* ri = &at(i, k0);
      double* row = &at(i, 0);
      for (int64_t j = k1; j <= i; ++j) row[j] -= DotFixedOrder(ri, &at(j, k0), k1 - k0);
    }
  }
  return true;
}

FactorResult ComputeFactor(std::span<const float> h, int64_t n, const PvqOptions& o) {
  const size_t nn = static_cast<size_t>(n);
  std::vector<double> a(nn * nn);
  for (size_t i = 0; i < nn; ++i) {
    for (size_t j = 0; j < nn; ++j)
      a[i * nn + j] = 0.5 * (static_cast<double>(h[i * nn + j]) + h[j * nn + i]);
  }
  if (o.rotate) {
    // Forward on every row gives B = A R^T; its transpose is R A (A symmetric); Forward on every
    // row of that gives R A R^T.
    const RandomizedHadamard rot(n, static_cast<uint64_t>(o.seed));
    for (int pass = 0; pass < 2; ++pass) {
      for (size_t r = 0; r < nn; ++r) rot.Forward(a.data() + r * nn);
      if (pass == 0) {
        for (size_t i = 0; i < nn; ++i) {
          for (size_t j = i + 1; j < nn; ++j) std::swap(a[i * nn + j], a[j * nn + i]);
        }
      }
    }
  }
  double trace = 0;
  for (size_t i = 0; i < nn; ++i) trace += a[i * nn + i];
  const double mean_diag = trace / static_cast<double>(n);
  if (!(mean_diag > 0) || !std::isfinite(mean_diag)) {
    return InvalidArgumentError("hessian has a non-positive or non-finite mean diagonal (" +
                                FormatDouble(mean_diag) + "); it must be X^T X of calibration inputs");
  }
  // H' = V V^T with V upper triangular is the lower Cholesky factor of the reversed matrix
  // (J H' J = L L^T, J the reversal; V = J L J). Only the lower triangle of the reversed matrix
  // is read, so the rounding asymmetry of the rotation does not matter.
  std::vector<double> rev(nn * nn);
  for (size_t i = 0; i < nn; ++i) {
    for (size_t j = 0; j <= i; ++j) rev[i * nn + j] = a[(nn - 1 - i) * nn + (nn - 1 - j)];
    rev[i * nn + i] += o.damp * mean_diag;
  }
  a.clear();
  a.shrink_to_fit();
  if (!CholeskyLower(rev.data(), n)) {
    return InvalidArgumentError(
        "hessian is not positive definite after dampening (damp=" + FormatDouble(o.damp) + "); raise 'damp'");
  }
  auto f = std::make_shared<HessianFactor>();
  f->n = n;
  f->v.assign(nn * nn, 0.0f);
  for (size_t i = 0; i < nn; ++i) {
    for (size_t j = i; j < nn; ++j)
      f->v[i * nn + j] = static_cast<float>(rev[(nn - 1 - i) * nn + (nn - 1 - j)]);
  }
  return std::shared_ptr<const HessianFactor>(std::move(f));
}

// The factors of the tensors in flight: the row blocks of one tensor share its Hessian, and the
// factorisation (O(n^3)) is by far the most expensive step, so it runs once per tensor. The key
// is the whole input (compared in full, not by hash) plus the parameters that shape the factor.
struct CacheEntry {
  int64_t n;
  int64_t seed;
  bool rotate;
  double damp;
  std::vector<float> source;
  std::shared_future<FactorResult> result;
};

}  // namespace

StatusOr<std::shared_ptr<const HessianFactor>> FactorHessian(std::span<const float> hessian, int64_t n,
                                                             const PvqOptions& o) {
  constexpr size_t kCapacity = 2;
  static std::mutex mu;
  static std::deque<std::shared_ptr<CacheEntry>> cache;
  auto matches = [&](const CacheEntry& e) {
    return e.n == n && e.seed == o.seed && e.rotate == o.rotate && e.damp == o.damp &&
           e.source.size() == hessian.size() &&
           memcmp(e.source.data(), hessian.data(), hessian.size() * sizeof(float)) == 0;
  };
  std::promise<FactorResult> promise;
  std::shared_ptr<CacheEntry> entry;
  std::shared_future<FactorResult> found;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& e : cache) {
      if (matches(*e)) {
        found = e->result;
        break;
      }
    }
    if (!found.valid()) {
      entry = std::make_shared<CacheEntry>(CacheEntry{n, o.seed, o.rotate, o.damp,
                                                      std::vector<float>(hessian.begin(), hessian.end()),
                                                      promise.get_future().share()});
      cache.push_front(entry);
      if (cache.size() > kCapacity) cache.pop_back();
    }
  }
  if (found.valid()) return found.get();  // computed, or being computed, for another row block
  try {
    FactorResult r = ComputeFactor(hessian, n, o);
    promise.set_value(r);
    return r;
  } catch (...) {
    promise.set_exception(std::current_exception());
    std::lock_guard<std::mutex> lock(mu);
    cache.erase(std::remove(cache.begin(), cache.end(), entry), cache.end());
    throw;
  }
}

void EncodeRotatedRowsHessian(const float* x, int64_t rows, const RowCodec& c, const HessianFactor& h,
                              float* scales, uint8_t* streams, RowStats* stats) {
  const PvqLayout& lay = c.layout;
  const int64_t n = lay.cols;
  const size_t nn = static_cast<size_t>(n);
  std::vector<int32_t> p(static_cast<size_t>(rows) * nn);
  std::vector<double> fitted(static_cast<size_t>(lay.groups()));
  std::vector<uint8_t> codes(static_cast<size_t>(rows * lay.groups()), 0);
  const std::span<const float> levels =
      c.levels ? std::span<const float>(*c.levels) : std::span<const float>();
  const std::span<const float> tail =
      c.tail_levels ? std::span<const float>(*c.tail_levels) : std::span<const float>();
  // The row scales, from the plain fit.
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t* row_codes = codes.data() + r * lay.groups();
    stats[r] = SearchRow(x + r * n, c, p.data() + static_cast<size_t>(r) * nn, fitted.data());
    scales[r] =
        FitRowGains(fitted, levels, tail, c.scale_dtype,
                    lay.gain_bits > 0 ? std::span<uint8_t>(row_codes, static_cast<size_t>(lay.groups()))
                                      : std::span<uint8_t>());
  }
  std::vector<double> acc(static_cast<size_t>(rows) * nn, 0.0);
  std::vector<double> err(static_cast<size_t>(rows) * kMaxGroupSize);
  double y[kMaxGroupSize], z[kMaxGroupSize], t[kMaxGroupSize];
  float wt[kMaxGroupSize], q[kMaxGroupSize];
  int64_t col = 0;
  for (int64_t g = 0; g < lay.groups(); ++g) {
    const int len = lay.GroupLength(g);
    const std::span<const float> lv = c.LevelsOf(g);
    for (int64_t r = 0; r < rows; ++r) {
      const float* xg = x + r * n + col;
      const double* ag = acc.data() + static_cast<size_t>(r) * nn + static_cast<size_t>(col);
      const float scale = scales[r];
      int32_t* pg = p.data() + static_cast<size_t>(r) * nn + static_cast<size_t>(col);
      // w~_g = w_g + y with y V_gg = acc_g (forward substitution; V_gg upper triangular).
      for (int cc = 0; cc < len; ++cc) {
        double s = ag[cc];
        for (int i = 0; i < cc; ++i)
          s -= y[i] * h.v[static_cast<size_t>(col + i) * nn + static_cast<size_t>(col + cc)];
        y[cc] = s / h.v[static_cast<size_t>(col + cc) * nn + static_cast<size_t>(col + cc)];
        wt[cc] = static_cast<float>(xg[cc] + y[cc]);
      }
      const SearchResult sr = SearchPyramid(wt, len, lay.GroupPulses(g), c.search, pg);
      stats[r].hull_evals += sr.hull_evals;
      stats[r].improved_groups += sr.improved;
      uint8_t& code = codes[static_cast<size_t>(r * lay.groups() + g)];
      if (!lv.empty() && scale > 0) {
        // Gain by least squares in the metric V_gg V_gg^T: z = u V_gg, t = w~ V_gg.
        const double norm = std::sqrt(static_cast<double>(sr.sumsq));
        for (int cc = 0; cc < len; ++cc) {
          double zs = 0, ts = 0;
          for (int i = 0; i <= cc; ++i) {
            const double v = h.v[static_cast<size_t>(col + i) * nn + static_cast<size_t>(col + cc)];
            zs += pg[i] / norm * v;
            ts += wt[i] * v;
          }
          z[cc] = zs;
          t[cc] = ts;
        }
        double zt = 0, zz = 0;
        for (int cc = 0; cc < len; ++cc) {
          zt += z[cc] * t[cc];
          zz += z[cc] * z[cc];
        }
        code = static_cast<uint8_t>(NearestLevel(lv, zz > 0 ? zt / zz / scale : 0.0));
      }
      ReconstructGroup(pg, len, scale, lv, code, q);
      for (int i = 0; i < len; ++i)
        err[static_cast<size_t>(r) * kMaxGroupSize + i] = static_cast<double>(xg[i]) - q[i];
    }
    // acc_rest += (w_g - q_g) V_g,rest, one row of V at a time for every row of the block.
    const int64_t rest = col + len;
    for (int i = 0; i < len; ++i) {
      const float* vi = h.v.data() + static_cast<size_t>(col + i) * nn;
      for (int64_t r = 0; r < rows; ++r) {
        const double e = err[static_cast<size_t>(r) * kMaxGroupSize + i];
        double* ar = acc.data() + static_cast<size_t>(r) * nn;
        for (int64_t j = rest; j < n; ++j) ar[j] += e * vi[j];
      }
    }
    col += len;
  }
  for (int64_t r = 0; r < rows; ++r) {
    PackRowFast(p.data() + static_cast<size_t>(r) * nn, codes.data() + r * lay.groups(), c,
                streams + r * lay.row_bytes);
  }
}

}  // namespace quantd::pvq_internal
