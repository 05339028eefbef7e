// The fast greedy decomposition x = u + Q^T v + r (definition in kashin.h).
//
// The reference recomputes y = Q r at every step, and a v step needs a second transform
// (Q^T sign(y)). Here both r and y = Q r are kept up to date: a u step changes r by
// -c sign(r), hence y by -c Q sign(r); a v step changes y by -c sign(y), hence r by
// -c Q^T sign(y). Either way a step costs exactly one transform, and the norms the next
// comparison needs are accumulated in the same passes that update r and y.
//
// Sums are float within runs of 256 values (eight interleaved lanes, so that the loops
// vectorise), then double; vectors longer than kChunk are cut into chunks processed in parallel
// whose sums are added in chunk order. Every order is fixed, so results do not depend on the
// number of threads or the vector width.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kashin/kashin.h"
#include "quantd/core/parallel.h"

namespace quantd::kashin_internal {
namespace {

constexpr int64_t kChunk = int64_t{1} << 15;
constexpr int64_t kRun = 256;
constexpr int kLanes = 8;

struct Norms {
  double l1 = 0;   // sum |a_i|
  double sq = 0;   // sum a_i^2
  int64_t nnz = 0;

  void Add(const Norms& o) {
    l1 += o.l1;
    sq += o.sq;
    nnz += o.nnz;
  }
};

// Lane sums of one run, folded into `out` in a fixed order.
struct LaneSums {
  float l1[kLanes] = {};
  float sq[kLanes] = {};
  int32_t nz[kLanes] = {};

  void Accumulate(int l, float a) {
    l1[l] += std::fabs(a);
    sq[l] += a * a;
    nz[l] += a != 0.0f ? 1 : 0;
  }
  void FoldInto(Norms* out) const {
    float a = 0, b = 0;
    int32_t z = 0;
    for (int l = 0; l < kLanes; ++l) {
      a += l1[l];
      b += sq[l];
      z += nz[l];
    }
    out->l1 += a;
    out->sq += b;
    out->nnz += z;
  }
};

inline float Sign(float a) { return a > 0.0f ? 1.0f : (a < 0.0f ? -1.0f : 0.0f); }

// Norms of a[b, e).
Norms NormsRange(const float* a, int64_t b, int64_t e) {
  Norms out;
  for (int64_t r0 = b; r0 < e; r0 += kRun) {
    const int64_t r1 = std::min(e, r0 + kRun);
    LaneSums s;
    int64_t i = r0;
    for (; i + kLanes <= r1; i += kLanes) {
      for (int l = 0; l < kLanes; ++l) s.Accumulate(l, a[i + l]);
    }
    for (; i < r1; ++i) s.Accumulate(0, a[i]);
    s.FoldInto(&out);
  }
  return out;
}

// The sign step on [b, e): s = sign(a); acc += c s; a -= c s; t = s. Returns the norms of the
// new a.
Norms SignStepRange(float* a, float* acc, float* t, float c, int64_t b, int64_t e) {
  Norms out;
  for (int64_t r0 = b; r0 < e; r0 += kRun) {
    const int64_t r1 = std::min(e, r0 + kRun);
    LaneSums s;
    int64_t i = r0;
    for (; i + kLanes <= r1; i += kLanes) {
      for (int l = 0; l < kLanes; ++l) {
        const float sg = Sign(a[i + l]);
        const float step = c * sg;
        acc[i + l] += step;
        const float na = a[i + l] - step;
        a[i + l] = na;
        t[i + l] = sg;
        s.Accumulate(l, na);
      }
    }
    for (; i < r1; ++i) {
      const float sg = Sign(a[i]);
      const float step = c * sg;
      acc[i] += step;
      a[i] -= step;
      t[i] = sg;
      s.Accumulate(0, a[i]);
    }
    s.FoldInto(&out);
  }
  return out;
}

// a -= c t on [b, e). Returns the norms of the new a.
Norms AxpyRange(float* a, const float* t, float c, int64_t b, int64_t e) {
  Norms out;
  for (int64_t r0 = b; r0 < e; r0 += kRun) {
    const int64_t r1 = std::min(e, r0 + kRun);
    LaneSums s;
    int64_t i = r0;
    for (; i + kLanes <= r1; i += kLanes) {
      for (int l = 0; l < kLanes; ++l) {
        const float na = a[i + l] - c * t[i + l];
        a[i + l] = na;
        s.Accumulate(l, na);
      }
    }
    for (; i < r1; ++i) {
      a[i] -= c * t[i];
      s.Accumulate(0, a[i]);
    }
    s.FoldInto(&out);
  }
  return out;
}

// Runs fn(b, e) -> Norms over [0, n) in chunks of kChunk (in parallel when there are several)
// and adds the chunks' norms in chunk order.
template <typename Fn>
Norms Chunked(int64_t n, const Fn& fn) {
  if (n <= kChunk) return fn(int64_t{0}, n);
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<Norms> parts(static_cast<size_t>(chunks));
  ParallelFor(0, chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) parts[static_cast<size_t>(c)] = fn(c * kChunk, std::min(n, (c + 1) * kChunk));
  });
  Norms total;
  for (const Norms& p : parts) total.Add(p);
  return total;
}

}  // namespace

GreedyResult Decompose(const Transform& q, const float* x, const GreedyOptions& o, float* u, float* v,
                       float* work) {
  const int64_t n = q.size();
  float* r = work;
  float* y = work + n;
  float* t = work + 2 * n;
  std::fill(u, u + n, 0.0f);
  std::fill(v, v + n, 0.0f);
  GreedyResult res;
  const Norms nx = Chunked(n, [&](int64_t b, int64_t e) { return NormsRange(x, b, e); });
  if (nx.sq == 0) {
    res.converged = true;
    return res;
  }
  memcpy(r, x, static_cast<size_t>(n) * sizeof(float));
  memcpy(y, x, static_cast<size_t>(n) * sizeof(float));
  q.Forward(y);
  Norms nr = nx;
  Norms ny = Chunked(n, [&](int64_t b, int64_t e) { return NormsRange(y, b, e); });
  const double target = o.tolerance * o.tolerance * nx.sq;
  while (true) {
    if (nr.sq <= target) {
      res.converged = true;
      break;
    }
    if (res.iterations >= o.max_iterations) break;
    // Energy removed by each projection: l1^2 / nnz. Compare without dividing.
    // (y cannot vanish while r does not, Q being orthogonal, unless rounding makes it so; then
    // the u step is the only one that removes anything.)
    const bool u_step = ny.nnz == 0 ||
                        nr.l1 * nr.l1 * static_cast<double>(ny.nnz) > ny.l1 * ny.l1 * static_cast<double>(nr.nnz);
    if (u_step) {
      const float c = static_cast<float>(nr.l1 / static_cast<double>(nr.nnz));
      nr = Chunked(n, [&](int64_t b, int64_t e) { return SignStepRange(r, u, t, c, b, e); });
      q.Forward(t);
      ny = Chunked(n, [&](int64_t b, int64_t e) { return AxpyRange(y, t, c, b, e); });
    } else {
      const float c = static_cast<float>(ny.l1 / static_cast<double>(ny.nnz));
      ny = Chunked(n, [&](int64_t b, int64_t e) { return SignStepRange(y, v, t, c, b, e); });
      q.Inverse(t);
      nr = Chunked(n, [&](int64_t b, int64_t e) { return AxpyRange(r, t, c, b, e); });
    }
    ++res.iterations;
  }
  // The true residual x - u - Q^T v (r drifts from it by rounding).
  memcpy(t, v, static_cast<size_t>(n) * sizeof(float));
  q.Inverse(t);
  const Norms ne = Chunked(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) t[i] = (x[i] - u[i]) - t[i];
    return NormsRange(t, b, e);
  });
  res.residual = std::sqrt(ne.sq / nx.sq);
  return res;
}

}  // namespace quantd::kashin_internal
