// File: pvq_search_impl.h
//
// The pyramid search of pvq_search.h, written once for the host and for CUDA devices: the CPU
// path (pvq_search.cc) and the CUDA kernels (pvq.cu) compile this same source, so that there is
// one search, not two copies that could drift apart. The derivation is in pvq_search.cc.
//
// What makes the two compilations give the same bits: every quantity is a double computed by
// IEEE-754 +, -, *, /, sqrt, floor and fabs in a fixed sequential order (one group per thread on
// the device), with no fused multiply-add (host: -ffp-contract=off; device: --fmad=false; double
// division and square root are correctly rounded on both). Nothing here calls the C library
// (pvq_math.h's functions stand for std::sqrt, std::min, ...; std::fill, std::max_element and
// the recursion of the first version became plain loops and an explicit stack that visit
// exactly the same values in the same order).
//
// kCap is the capacity of the per-group arrays (>= d): the CPU uses kMaxGroupSize; the device
// picks the smallest of 32, 64, 128, 256 that holds the group, since those arrays live in each
// thread's local memory. The capacity never changes a result.
#ifndef QUANTD_CORE_PVQ_PVQ_SEARCH_IMPL_H_
#define QUANTD_CORE_PVQ_PVQ_SEARCH_IMPL_H_

#include <cstdint>

#include "core/pvq/pvq_math.h"
#include "core/pvq/pvq_search.h"

namespace quantd::pvq_internal {
namespace search_impl {

using math::Fabs;
using math::Floor;
using math::Infinity;
using math::IsFinite;
using math::Max;
using math::Min;
using math::Sqrt;

// Relative slack for "better than the best so far" in the pruning tests: candidates closer
// than this to the best are not worth exploring.
inline constexpr double kPruneSlack = 1e-12;
// Nesting limit of the interval splitting between two hull vertices (never reached in practice;
// a guard against pathological inputs).
inline constexpr int kMaxSplitDepth = 256;

// A plain aggregate (no default member initializers): the search's stack of vertices is not
// zero-filled on every call.
struct Vertex {
  double x;       // X = <a, y>
  double t;       // T = |y|^2
  double lambda;  // a lambda at which the vertex maximises 2 lambda X - T
};

QUANTD_HOST_DEVICE inline double F(double x, double t) { return t > 0 ? x / Sqrt(t) : 0.0; }

template <int kCap>
class Search {
 public:
  QUANTD_HOST_DEVICE Search(const double* a, int d, int k) : a_(a), d_(d), k_(k) {}

  // Projection then greedy (Opus op_pvq_search, in double).
  QUANTD_HOST_DEVICE void Greedy() {
    for (int j = 0; j < d_; ++j) best_y_[j] = 0;
    int left = k_;
    double xy = 0, yy = 0;
    if (k_ > d_ / 2) {
      double sum = 0;
      for (int j = 0; j < d_; ++j) sum += a_[j];
      if (!(sum > 1e-30) || !IsFinite(sum)) {
        best_y_[0] = k_;
        return;
      }
      const double r = (k_ + 0.8) / sum;  // 0.8 < 1: the floors sum to at most K
      for (int j = 0; j < d_; ++j) {
        const int v = static_cast<int>(Min(Floor(r * a_[j]), static_cast<double>(k_)));
        best_y_[j] = v;
        left -= v;
        xy += a_[j] * v;
        yy += static_cast<double>(v) * v;
      }
      if (left < 0) {  // cannot happen in exact arithmetic; start over without projection
        for (int j = 0; j < d_; ++j) best_y_[j] = 0;
        left = k_;
        xy = yy = 0;
      }
    }
    for (; left > 0; --left) {
      int best = 0;
      double best_num = -1, best_den = 1;
      for (int j = 0; j < d_; ++j) {
        const double s = xy + a_[j];
        const double num = s * s;
        const double den = yy + 2.0 * best_y_[j] + 1.0;
        if (num * best_den > best_num * den) {
          best_num = num;
          best_den = den;
          best = j;
        }
      }
      xy += a_[best];
      yy += 2.0 * best_y_[best] + 1.0;
      ++best_y_[best];
    }
  }

  // Exact search around the greedy point (pvq_search.cc). REQUIRES: Greedy() ran.
  QUANTD_HOST_DEVICE void Exact() {
    Vertex g = Measure(best_y_);
    best_f_ = F(g.x, g.t);
    if (!(g.x > 0)) return;
    Vertex m = Eval(g.t / g.x);
    double amax = 0;
    for (int j = 0; j < d_; ++j) amax = Max(amax, a_[j]);
    const double q = k_ / d_, r = k_ % d_;
    const double t_min = (d_ - r) * q * q + r * (q + 1) * (q + 1);
    const double t_max = static_cast<double>(k_) * k_;
    const double x_max = k_ * amax;
    // Towards larger lambda (more concentrated points).
    Vertex cur = m;
    for (double factor = 1.3; cur.t < t_max;) {
      const double phi = 2 * cur.lambda * cur.x - cur.t;
      const double tc = 2 * cur.lambda * x_max - phi;  // where the line reaches X = K max(a)
      double bound = F(cur.x, cur.t);
      if (tc >= t_max) {
        bound = Max(bound, (phi + t_max) / (2 * cur.lambda * Sqrt(t_max)));
      } else {
        bound = Max(bound, x_max / Sqrt(Max(tc, cur.t)));
      }
      if (!(bound > best_f_ * (1 + kPruneSlack))) break;
      const double next_lambda = cur.lambda * factor;
      if (!IsFinite(next_lambda)) break;
      factor = Min(factor * factor, 1e8);
      const Vertex next = Eval(next_lambda);
      Between(cur, next);
      cur = next;
    }
    // Towards smaller lambda (more even points).
    cur = m;
    for (double factor = 1.3; cur.t > t_min;) {
      const double phi = 2 * cur.lambda * cur.x - cur.t;
      const double bound = Max(F(cur.x, cur.t), (phi + t_min) / (2 * cur.lambda * Sqrt(t_min)));
      if (!(bound > best_f_ * (1 + kPruneSlack))) break;
      const double next_lambda = cur.lambda / factor;
      if (!(next_lambda > 0)) break;
      factor = Min(factor * factor, 1e8);
      const Vertex next = Eval(next_lambda);
      Between(next, cur);
      cur = next;
    }
  }

  QUANTD_HOST_DEVICE const int32_t* best_y() const { return best_y_; }
  QUANTD_HOST_DEVICE int evals() const { return evals_; }
  QUANTD_HOST_DEVICE bool improved() const { return improved_; }

 private:
  QUANTD_HOST_DEVICE Vertex Measure(const int32_t* y) const {
    Vertex v{0.0, 0.0, 0.0};
    for (int j = 0; j < d_; ++j) {
      v.x += a_[j] * y[j];
      v.t += static_cast<double>(y[j]) * y[j];
    }
    return v;
  }

  // y_j = clamp(floor(lambda a_j - theta + 1/2), 0, K) into y_, their sum into sum_; returns
  // the number of positive y_j.
  QUANTD_HOST_DEVICE int Fill(double lambda, double theta) {
    sum_ = 0;
    int positive = 0;
    for (int j = 0; j < d_; ++j) {
      const double v = Min(Max(Floor(lambda * a_[j] - theta + 0.5), 0.0), static_cast<double>(k_));
      y_[j] = static_cast<int32_t>(v);
      sum_ += y_[j];
      positive += y_[j] > 0;
    }
    return positive;
  }

  QUANTD_HOST_DEVICE bool Close() const { return (sum_ < k_ ? k_ - sum_ : sum_ - k_) <= 2; }

  // Y(lambda) into y_, measured; becomes the best point when it beats it.
  QUANTD_HOST_DEVICE Vertex Eval(double lambda) {
    ++evals_;
    // Threshold form: theta moved until the sum is near K (Newton steps on the piecewise-constant
    // sum, then bisection if needed).
    double theta = 0;
    bool close = false;
    for (int it = 0; it < 8 && !close; ++it) {
      const int positive = Fill(lambda, theta);
      close = Close();
      if (!close) theta += static_cast<double>(sum_ - k_) / (positive > 1 ? positive : 1);
    }
    if (!close) {
      // sum(theta) is non-increasing; bracket and bisect.
      double amax = a_[0];
      for (int j = 1; j < d_; ++j) amax = a_[j] > amax ? a_[j] : amax;
      double lo = -(k_ + 1.0), hi = lambda * amax + 1.0;
      for (int it = 0; it < 200; ++it) {
        const double mid = 0.5 * (lo + hi);
        if (mid <= lo || mid >= hi) break;
        Fill(lambda, mid);
        if (Close()) break;
        (sum_ > k_ ? lo : hi) = mid;
      }
      if (!Close()) Fill(lambda, hi);  // sum <= K here; the loop below tops it up
    }
    while (sum_ < k_) {  // add the cheapest next pulse
      int best = -1;
      double best_cost = Infinity();
      for (int j = 0; j < d_; ++j) {
        const double c = 2.0 * y_[j] + 1.0 - 2.0 * lambda * a_[j];
        if (c < best_cost) {
          best_cost = c;
          best = j;
        }
      }
      ++y_[best];
      ++sum_;
    }
    while (sum_ > k_) {  // remove the most expensive pulse taken
      int best = -1;
      double best_cost = -Infinity();
      for (int j = 0; j < d_; ++j) {
        if (y_[j] == 0) continue;
        const double c = 2.0 * y_[j] - 1.0 - 2.0 * lambda * a_[j];
        if (c > best_cost) {
          best_cost = c;
          best = j;
        }
      }
      --y_[best];
      --sum_;
    }
    Vertex v = Measure(y_);
    v.lambda = lambda;
    const double f = F(v.x, v.t);
    if (f > best_f_) {
      best_f_ = f;
      improved_ = true;
      for (int j = 0; j < d_; ++j) best_y_[j] = y_[j];
    }
    return v;
  }

  // One step of the search between hull vertices p and q (p.lambda < q.lambda) at nesting
  // `depth`: false when nothing lies strictly between them that could beat the best point;
  // otherwise evaluates the vertex m that splits the interval and returns true.
  QUANTD_HOST_DEVICE bool Split(const Vertex& p, const Vertex& q, int depth, Vertex* m) {
    if (!(q.t > p.t) || !(q.x > p.x) || depth > kMaxSplitDepth) return false;
    const double phi_p = 2 * p.lambda * p.x - p.t, phi_q = 2 * q.lambda * q.x - q.t;
    const double apex_x = (phi_p - phi_q) / (2 * (p.lambda - q.lambda));
    const double apex_t = 2 * p.lambda * apex_x - phi_p;
    const double bound = apex_t > 0 ? apex_x / Sqrt(apex_t) : Infinity();
    if (!(bound > best_f_ * (1 + kPruneSlack))) return false;
    const double lambda = (q.t - p.t) / (2 * (q.x - p.x));
    *m = Eval(lambda);
    const double chord = 2 * lambda * p.x - p.t;
    const double value = 2 * lambda * m->x - m->t;
    return value > chord + 1e-12 * (Fabs(chord) + p.t + q.t);  // otherwise p, q are adjacent
  }

  // Searches the hull vertices strictly between p and q, depth first and left first: after a
  // split at m, (p, m) is searched completely before (m, q). The stack holds the right ends of
  // the intervals still to search with their depths; the interval being searched runs from
  // `left` to the top. An entry's depth is at least its position, so depth <= kMaxSplitDepth + 1
  // bounds the stack at kMaxSplitDepth + 2 entries.
  QUANTD_HOST_DEVICE void Between(const Vertex& p, const Vertex& q) {
    Vertex left = p;
    int top = 0;
    pending_[0] = q;
    pending_depth_[0] = 0;
    while (top >= 0) {
      const int depth = pending_depth_[top];
      Vertex m;
      if (Split(left, pending_[top], depth, &m)) {
        pending_depth_[top] = depth + 1;  // (m, q) is searched at depth + 1, after (left, m)
        ++top;
        pending_[top] = m;
        pending_depth_[top] = depth + 1;
      } else {
        left = pending_[top];
        --top;
      }
    }
  }

  const double* a_;
  int d_, k_;
  int64_t sum_ = 0;
  int32_t y_[kCap];
  int32_t best_y_[kCap];
  double best_f_ = 0;
  int evals_ = 0;
  bool improved_ = false;
  Vertex pending_[kMaxSplitDepth + 2];
  int pending_depth_[kMaxSplitDepth + 2];
};

}  // namespace search_impl

// SearchPyramid (pvq_search.h) for groups of at most kCap values.
// REQUIRES: 1 <= d <= kCap, k >= 1, x finite.
template <int kCap>
QUANTD_HOST_DEVICE inline SearchResult SearchPyramidIn(const float* x, int d, int k, SearchMode mode,
                                                       int32_t* p) {
  double a[kCap];
  for (int j = 0; j < d; ++j) a[j] = math::Fabs(static_cast<double>(x[j]));
  search_impl::Search<kCap> s(a, d, k);
  s.Greedy();
  if (mode == SearchMode::kExact) s.Exact();
  SearchResult r;
  const int32_t* y = s.best_y();
  for (int j = 0; j < d; ++j) {
    p[j] = x[j] < 0 ? -y[j] : y[j];
    r.dot += a[j] * y[j];
    r.sumsq += static_cast<int64_t>(y[j]) * y[j];
  }
  r.hull_evals = s.evals();
  r.improved = s.improved();
  return r;
}

// The least-squares gain of a group for the direction found: <x, p> / |p|.
QUANTD_HOST_DEVICE inline double FittedGain(const SearchResult& r) {
  return r.dot / math::Sqrt(static_cast<double>(r.sumsq));
}

}  // namespace quantd::pvq_internal

#endif  // QUANTD_CORE_PVQ_PVQ_SEARCH_IMPL_H_
