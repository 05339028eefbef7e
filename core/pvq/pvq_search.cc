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
//
// The implementation is in pvq_search_impl.h, shared with the CUDA kernels (pvq.cu).
#include "core/pvq/pvq_search.h"

#include <cassert>

#include "core/pvq/pvq_search_impl.h"

namespace quantd::pvq_internal {

SearchResult SearchPyramid(const float* x, int d, int k, SearchMode mode, int32_t* p) {
  assert(d >= 1 && d <= kMaxGroupSize && k >= 1);
  return SearchPyramidIn<kMaxGroupSize>(x, d, k, mode, p);
}

}  // namespace quantd::pvq_internal
