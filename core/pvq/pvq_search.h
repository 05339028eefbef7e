// File: pvq_search.h
//
// The pyramid search: for a group x in R^D, the point p of P(D, K) (sum |p_i| = K) whose
// direction is closest to x, i.e. that maximises cos(x, p) = <x, p> / (|x| |p|). With the gain
// fitted afterwards (g = <x, p/|p|>), this is the point of least squared error.
//
// Two modes:
//  - kGreedy: the projection-then-greedy search of Opus (celt/vq.c, op_pvq_search): on a = |x|, when
//    K > D/2 place floor((K + 0.8) a_j / sum a) pulses on each coordinate (at most K in all),
//    then add the remaining pulses one at a time, each where it raises cos the most
//    ((xy + a_j)^2 / (yy + 2 y_j + 1), compared by cross-multiplication; lowest j on ties).
//    Fast but not always optimal (it misses the optimum on a few per cent of random groups).
//  - kExact: the greedy point, then an exact search over the upper convex hull of the pairs
//    (T, X) = (|y|^2, <a, y>), y in P+(D, K). It returns a maximiser of cos (up to rounding of
//    the double arithmetic), and matches brute force on every small case tested.
//
// Why the hull search is exact (the derivation is in pvq_search.cc): a maximiser y* of
// X / sqrt(T) also maximises 2 lambda X - T for lambda = T*/X* (AM-GM), so it is a vertex of the
// upper hull; the vertex maximising 2 lambda X - T for a given lambda is computed exactly in
// O(D) (it minimises |y - lambda a|^2, a separable convex problem); and between two hull
// vertices, X / sqrt(T) is bounded by its value at the two vertices and at the intersection of
// their supporting lines, which prunes the search. In practice 7 to 15 vertex evaluations per
// group, 3-4x the cost of the greedy search alone.
//
// Signs: p_i = sign(x_i) y_i (+ for x_i == 0). All arithmetic is double, in a fixed order, so
// the result is deterministic. Groups of zeros get all K pulses on coordinate 0.
#ifndef QUANTD_CORE_PVQ_PVQ_SEARCH_H_
#define QUANTD_CORE_PVQ_PVQ_SEARCH_H_

#include <cstdint>

namespace quantd::pvq_internal {

// Largest group size the search (and the method) supports.
inline constexpr int kMaxGroupSize = 256;

enum class SearchMode { kGreedy, kExact };

struct SearchResult {
  double dot = 0;         // <|x|, y> = <x, p>
  int64_t sumsq = 0;      // |p|^2
  int hull_evals = 0;     // vertex evaluations of the exact search (0 for kGreedy)
  bool improved = false;  // the exact search found a better point than the greedy one
};

// Writes the chosen point to p[0..d). REQUIRES: 1 <= d <= kMaxGroupSize, k >= 1, x finite.
SearchResult SearchPyramid(const float* x, int d, int k, SearchMode mode, int32_t* p);

}  // namespace quantd::pvq_internal

#endif  // QUANTD_CORE_PVQ_PVQ_SEARCH_H_
