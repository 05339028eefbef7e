// The pyramid search (pvq_search.h).
//
// Notation: a = |x| (signs are restored at the end), y in P+(D, K) = {y in N^D : sum y = K},
// X(y) = <a, y>, T(y) = |y|^2. cos(x, p) = X / (|a| sqrt(T)), so we maximise F = X / sqrt(T).
//
// 1. The optimum is a vertex of the upper hull of {(T(y), X(y))}. For any y and lambda > 0,
//    |y - lambda a|^2 = T - 2 lambda X + lambda^2 |a|^2. Let y* be optimal and lambda = T*/X*. If
//    some y had 2 lambda X - T > 2 lambda X* - T* = T*, then X/X* > (T + T*)/(2 T*) >= sqrt(T/T*)
//    (AM-GM), i.e. F(y) > F(y*), a contradiction. So y* maximises 2 lambda X - T: it is a point
//    of the upper hull where the supporting line has slope 1 / (2 lambda).
// 2. For a given lambda that maximiser, Y(lambda), minimises sum_j (y_j - lambda a_j)^2 subject
//    to sum y_j = K, y_j >= 0: a separable convex problem. Taking pulse m (m = 0, 1, ...) on
//    coordinate j costs 2m + 1 - 2 lambda a_j, increasing in m, so Y(lambda) takes the K cheapest
//    pulses overall: y_j = #{m : 2m + 1 - 2 lambda a_j <= tau} for a threshold tau, found below
//    by rounding lambda a_j - theta and then adding or removing single cheapest pulses.
// 3. Pruning. Between two hull vertices P, Q (optimal at lambda_P < lambda_Q), every hull vertex
//    lies in the triangle P, Q, A, with A the intersection of their supporting lines (above the
//    chord, below both lines). F has no interior maximum (its gradient never vanishes), and along
//    a segment X = X0 + s dX, T = T0 + s dT with dX, dT > 0 (every edge of the triangle is one)
//    the sign of dF/ds is that of (dX T0 - X0 dT / 2) + s dX dT / 2, which changes at most once,
//    from - to +. So max F over the triangle is max(F(P), F(Q), F(A)); when that is no better
//    than the best point so far, nothing between P and Q is searched. Otherwise the vertex
//    optimal at the chord's slope, lambda_E = (T_Q - T_P) / (2 (X_Q - X_P)), is either on the
//    chord (P and Q are adjacent: done) or a new vertex that splits the interval.
// 4. Outside the explored interval: vertices right of a vertex C (larger lambda) satisfy
//    X <= (Phi_C + T) / (2 lambda_C) with Phi_C = 2 lambda_C X_C - T_C, X <= K max(a) and
//    T <= K^2; vertices left of C satisfy the first bound and T >= T_min (the most even
//    spread of K pulses). Both bounds on F are maximised at the ends of their T ranges (or
//    where the first two bounds cross), which decides when to stop widening the interval.
//    The interval is widened by factors of lambda that grow quickly (1.3, 1.69, 2.86, ...), so
//    the extremes are reached in a few steps.
#include "pvq/pvq_search.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

namespace quantd::pvq_internal {
namespace {

// Relative slack for "better than the best so far" in the pruning tests: candidates closer
// than this to the best are not worth exploring.
constexpr double kPruneSlack = 1e-12;

struct Vertex {
  double x = 0;       // X = <a, y>
  double t = 0;       // T = |y|^2
  double lambda = 0;  // a lambda at which the vertex maximises 2 lambda X - T
};

double F(double x, double t) { return t > 0 ? x / std::sqrt(t) : 0.0; }

class Search {
 public:
  Search(const double* a, int d, int k) : a_(a), d_(d), k_(k) {}

  // Projection then greedy (Opus op_pvq_search, in double).
  void Greedy() {
    std::fill(best_y_, best_y_ + d_, 0);
    int left = k_;
    double xy = 0, yy = 0;
    if (k_ > d_ / 2) {
      double sum = 0;
      for (int j = 0; j < d_; ++j) sum += a_[j];
      if (!(sum > 1e-30) || !std::isfinite(sum)) {
        best_y_[0] = k_;
        return;
      }
      const double r = (k_ + 0.8) / sum;  // 0.8 < 1: the floors sum to at most K
      for (int j = 0; j < d_; ++j) {
        const int v = static_cast<int>(std::min(std::floor(r * a_[j]), static_cast<double>(k_)));
        best_y_[j] = v;
        left -= v;
        xy += a_[j] * v;
        yy += static_cast<double>(v) * v;
      }
      if (left < 0) {  // cannot happen in exact arithmetic; start over without projection
        std::fill(best_y_, best_y_ + d_, 0);
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

  // Exact search around the greedy point (the file comment). REQUIRES: Greedy() ran.
  void Exact() {
    Vertex g = Measure(best_y_);
    best_f_ = F(g.x, g.t);
    if (!(g.x > 0)) return;
    Vertex m = Eval(g.t / g.x);
    double amax = 0;
    for (int j = 0; j < d_; ++j) amax = std::max(amax, a_[j]);
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
        bound = std::max(bound, (phi + t_max) / (2 * cur.lambda * std::sqrt(t_max)));
      } else {
        bound = std::max(bound, x_max / std::sqrt(std::max(tc, cur.t)));
      }
      if (!(bound > best_f_ * (1 + kPruneSlack))) break;
      const double next_lambda = cur.lambda * factor;
      if (!std::isfinite(next_lambda)) break;
      factor = std::min(factor * factor, 1e8);
      const Vertex next = Eval(next_lambda);
      Between(cur, next, 0);
      cur = next;
    }
    // Towards smaller lambda (more even points).
    cur = m;
    for (double factor = 1.3; cur.t > t_min;) {
      const double phi = 2 * cur.lambda * cur.x - cur.t;
      const double bound = std::max(F(cur.x, cur.t), (phi + t_min) / (2 * cur.lambda * std::sqrt(t_min)));
      if (!(bound > best_f_ * (1 + kPruneSlack))) break;
      const double next_lambda = cur.lambda / factor;
      if (!(next_lambda > 0)) break;
      factor = std::min(factor * factor, 1e8);
      const Vertex next = Eval(next_lambda);
      Between(next, cur, 0);
      cur = next;
    }
  }

  const int32_t* best_y() const { return best_y_; }
  int evals() const { return evals_; }
  bool improved() const { return improved_; }

 private:
  Vertex Measure(const int32_t* y) const {
    Vertex v;
    for (int j = 0; j < d_; ++j) {
      v.x += a_[j] * y[j];
      v.t += static_cast<double>(y[j]) * y[j];
    }
    return v;
  }

  // Y(lambda) into y_, measured; becomes the best point when it beats it.
  Vertex Eval(double lambda) {
    ++evals_;
    // Threshold form: y_j = clamp(floor(lambda a_j - theta + 1/2), 0, K), theta moved until the
    // sum is near K (Newton steps on the piecewise-constant sum, then bisection if needed).
    int64_t sum = 0;
    auto fill = [&](double theta) {
      sum = 0;
      int positive = 0;
      for (int j = 0; j < d_; ++j) {
        const double v =
            std::min(std::max(std::floor(lambda * a_[j] - theta + 0.5), 0.0), static_cast<double>(k_));
        y_[j] = static_cast<int32_t>(v);
        sum += y_[j];
        positive += y_[j] > 0;
      }
      return positive;
    };
    double theta = 0;
    bool close = false;
    for (int it = 0; it < 8 && !close; ++it) {
      const int positive = fill(theta);
      close = std::abs(sum - k_) <= 2;
      if (!close) theta += static_cast<double>(sum - k_) / std::max(positive, 1);
    }
    if (!close) {
      // sum(theta) is non-increasing; bracket and bisect.
      double lo = -(k_ + 1.0), hi = lambda * (*std::max_element(a_, a_ + d_)) + 1.0;
      for (int it = 0; it < 200; ++it) {
        const double mid = 0.5 * (lo + hi);
        if (mid <= lo || mid >= hi) break;
        fill(mid);
        if (std::abs(sum - k_) <= 2) break;
        (sum > k_ ? lo : hi) = mid;
      }
      if (std::abs(sum - k_) > 2) fill(hi);  // sum <= K here; the loop below tops it up
    }
    while (sum < k_) {  // add the cheapest next pulse
      int best = -1;
      double best_cost = std::numeric_limits<double>::infinity();
      for (int j = 0; j < d_; ++j) {
        const double c = 2.0 * y_[j] + 1.0 - 2.0 * lambda * a_[j];
        if (c < best_cost) {
          best_cost = c;
          best = j;
        }
      }
      ++y_[best];
      ++sum;
    }
    while (sum > k_) {  // remove the most expensive pulse taken
      int best = -1;
      double best_cost = -std::numeric_limits<double>::infinity();
      for (int j = 0; j < d_; ++j) {
        if (y_[j] == 0) continue;
        const double c = 2.0 * y_[j] - 1.0 - 2.0 * lambda * a_[j];
        if (c > best_cost) {
          best_cost = c;
          best = j;
        }
      }
      --y_[best];
      --sum;
    }
    Vertex v = Measure(y_);
    v.lambda = lambda;
    const double f = F(v.x, v.t);
    if (f > best_f_) {
      best_f_ = f;
      improved_ = true;
      std::copy(y_, y_ + d_, best_y_);
    }
    return v;
  }

  // Searches the hull vertices strictly between p and q (p.lambda < q.lambda).
  void Between(const Vertex& p, const Vertex& q, int depth) {
    if (!(q.t > p.t) || !(q.x > p.x) || depth > 256) return;
    const double phi_p = 2 * p.lambda * p.x - p.t, phi_q = 2 * q.lambda * q.x - q.t;
    const double apex_x = (phi_p - phi_q) / (2 * (p.lambda - q.lambda));
    const double apex_t = 2 * p.lambda * apex_x - phi_p;
    const double bound = apex_t > 0 ? apex_x / std::sqrt(apex_t) : std::numeric_limits<double>::infinity();
    if (!(bound > best_f_ * (1 + kPruneSlack))) return;
    const double lambda = (q.t - p.t) / (2 * (q.x - p.x));
    const Vertex m = Eval(lambda);
    const double chord = 2 * lambda * p.x - p.t;
    const double value = 2 * lambda * m.x - m.t;
    if (!(value > chord + 1e-12 * (std::fabs(chord) + p.t + q.t))) return;  // p, q adjacent
    Between(p, m, depth + 1);
    Between(m, q, depth + 1);
  }

  const double* a_;
  int d_, k_;
  int32_t y_[kMaxGroupSize];
  int32_t best_y_[kMaxGroupSize];
  double best_f_ = 0;
  int evals_ = 0;
  bool improved_ = false;
};

}  // namespace

SearchResult SearchPyramid(const float* x, int d, int k, SearchMode mode, int32_t* p) {
  assert(d >= 1 && d <= kMaxGroupSize && k >= 1);
  double a[kMaxGroupSize];
  for (int j = 0; j < d; ++j) a[j] = std::fabs(static_cast<double>(x[j]));
  Search s(a, d, k);
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

}  // namespace quantd::pvq_internal
