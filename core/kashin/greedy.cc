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
#include <functional>
#include <vector>

#include "core/common/parallel.h"
#include "core/kashin/kashin.h"
#include "core/kashin/kashin_kernels.h"

namespace quantd::kashin_internal {
namespace {

// The summation order, shared with the CUDA kernels (kashin_kernels.h).
constexpr int64_t kChunk = kGreedyChunk;
constexpr int64_t kRun = kGreedyRun;
constexpr int kLanes = kGreedyLanes;

struct Norms {
  double l1 = 0;  // sum |a_i|
  double sq = 0;  // sum a_i^2
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

// sign(a) in {-1, 0, +1}, written as selects so that the loops using it vectorise.
inline float Sign(float a) {
  const float p = a > 0.0f ? 1.0f : 0.0f;
  return a < 0.0f ? -1.0f : p;
}

// The three range kernels below share their run/lane skeleton on purpose: written out, each
// loop vectorises (with the __restrict parameters); through a common template taking a lambda
// GCC 12 loses the no-alias facts and one of them runs scalar (measured 30% slower).

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
Norms SignStepRange(float* __restrict a, float* __restrict acc, float* __restrict t, float c, int64_t b,
                    int64_t e) {
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
Norms AxpyRange(float* __restrict a, const float* __restrict t, float c, int64_t b, int64_t e) {
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
    for (int64_t c = c0; c < c1; ++c)
      parts[static_cast<size_t>(c)] = fn(c * kChunk, std::min(n, (c + 1) * kChunk));
  });
  Norms total;
  for (const Norms& p : parts) total.Add(p);
  return total;
}

// One vector's decomposition in progress: r and y = Q r (in caller-provided memory), their
// norms, and the result so far.
class VectorState {
 public:
  VectorState(const Transform& q, const float* x, float* u, float* v, float* r, float* y)
      : q_(q), n_(q.size()), x_(x), u_(u), v_(v), r_(r), y_(y) {}

  // u = v = 0, r = x, y = Q x. A zero vector is converged at once.
  void Init(double tolerance) {
    std::fill(u_, u_ + n_, 0.0f);
    std::fill(v_, v_ + n_, 0.0f);
    nx_ = Chunked(n_, [&](int64_t b, int64_t e) { return NormsRange(x_, b, e); });
    if (nx_.sq == 0) {
      res_.converged = true;
      return;
    }
    memcpy(r_, x_, static_cast<size_t>(n_) * sizeof(float));
    memcpy(y_, x_, static_cast<size_t>(n_) * sizeof(float));
    q_.Forward(y_);
    nr_ = nx_;
    ny_ = Chunked(n_, [&](int64_t b, int64_t e) { return NormsRange(y_, b, e); });
    target_ = tolerance * tolerance * nx_.sq;
    res_.converged = nr_.sq <= target_;
  }

  bool converged() const { return res_.converged; }
  int64_t iterations() const { return res_.iterations; }
  // Energy each projection would remove: |r|_1^2 / nnz(r) and |Q r|_1^2 / nnz(Q r).
  double RemovedByU() const { return nr_.nnz == 0 ? 0.0 : nr_.l1 * nr_.l1 / static_cast<double>(nr_.nnz); }
  double RemovedByV() const { return ny_.nnz == 0 ? 0.0 : ny_.l1 * ny_.l1 / static_cast<double>(ny_.nnz); }
  // The greedy choice, compared without dividing; ties go to v. (y cannot vanish while r does
  // not, Q being orthogonal, unless rounding makes it so; then only the u step removes
  // anything.)
  bool PrefersU() const {
    return ny_.nnz == 0 ||
           nr_.l1 * nr_.l1 * static_cast<double>(ny_.nnz) > ny_.l1 * ny_.l1 * static_cast<double>(nr_.nnz);
  }

  // One projection step; t is scratch of n floats. REQUIRES: !converged().
  void Step(bool u_step, float* t) {
    if (ny_.nnz == 0) u_step = true;
    if (u_step) {
      const float c = static_cast<float>(nr_.l1 / static_cast<double>(nr_.nnz));
      nr_ = Chunked(n_, [&](int64_t b, int64_t e) { return SignStepRange(r_, u_, t, c, b, e); });
      q_.Forward(t);
      ny_ = Chunked(n_, [&](int64_t b, int64_t e) { return AxpyRange(y_, t, c, b, e); });
    } else {
      const float c = static_cast<float>(ny_.l1 / static_cast<double>(ny_.nnz));
      ny_ = Chunked(n_, [&](int64_t b, int64_t e) { return SignStepRange(y_, v_, t, c, b, e); });
      q_.Inverse(t);
      nr_ = Chunked(n_, [&](int64_t b, int64_t e) { return AxpyRange(r_, t, c, b, e); });
    }
    ++res_.iterations;
    res_.converged = nr_.sq <= target_;
  }

  // The result, with the true residual x - u - Q^T v (r drifts from it by rounding).
  GreedyResult Finish(float* t) {
    if (nx_.sq == 0) return res_;
    memcpy(t, v_, static_cast<size_t>(n_) * sizeof(float));
    q_.Inverse(t);
    const Norms ne = Chunked(n_, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) t[i] = (x_[i] - u_[i]) - t[i];
      return NormsRange(t, b, e);
    });
    res_.residual = std::sqrt(ne.sq / nx_.sq);
    return res_;
  }

 private:
  const Transform& q_;
  int64_t n_;
  const float* x_;
  float *u_, *v_, *r_, *y_;
  Norms nx_, nr_, ny_;
  double target_ = 0;
  GreedyResult res_;
};

}  // namespace

GreedyResult Decompose(const Transform& q, const float* x, const GreedyOptions& o, float* u, float* v,
                       float* work) {
  const int64_t n = q.size();
  VectorState s(q, x, u, v, work, work + n);
  s.Init(o.tolerance);
  while (!s.converged() && s.iterations() < o.max_iterations) s.Step(s.PrefersU(), work + 2 * n);
  return s.Finish(work + 2 * n);
}

std::vector<GreedyResult> DecomposeSlice(std::span<const VectorTask> tasks, const GreedyOptions& o) {
  const int64_t count = static_cast<int64_t>(tasks.size());
  // r and y of every vector, and each vector's offset into them.
  std::vector<int64_t> offset(static_cast<size_t>(count) + 1, 0);
  int64_t longest = 0;
  for (int64_t i = 0; i < count; ++i) {
    const int64_t n = tasks[static_cast<size_t>(i)].q->size();
    offset[static_cast<size_t>(i) + 1] = offset[static_cast<size_t>(i)] + n;
    longest = std::max(longest, n);
  }
  std::vector<float> ry(static_cast<size_t>(2 * offset.back()));
  std::vector<VectorState> state;
  state.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    const VectorTask& t = tasks[static_cast<size_t>(i)];
    float* r = ry.data() + 2 * offset[static_cast<size_t>(i)];
    state.emplace_back(*t.q, t.x, t.u, t.v, r, r + t.q->size());
  }
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(1, longest));
  auto for_each = [&](const std::function<void(VectorState&, float*)>& fn) {
    ParallelFor(0, count, grain, [&](int64_t b, int64_t e) {
      // Isolated: a vector longer than kChunk runs a nested ParallelFor while it holds t.
      RunIsolated([&] {
        thread_local std::vector<float> t;
        t.resize(static_cast<size_t>(longest));
        for (int64_t i = b; i < e; ++i) fn(state[static_cast<size_t>(i)], t.data());
      });
    });
  };
  for_each([&](VectorState& s, float*) { s.Init(o.tolerance); });
  for (int64_t step = 0; step < o.max_iterations; ++step) {
    // One choice for all vectors still running: the step that removes more energy in total
    // (for the first shared_steps steps; then each vector's own).
    double by_u = 0, by_v = 0;
    bool any = false;
    for (const VectorState& s : state) {
      if (s.converged()) continue;
      any = true;
      by_u += s.RemovedByU();
      by_v += s.RemovedByV();
    }
    if (!any) break;
    const bool u_step = by_u > by_v;
    const bool shared = step < o.shared_steps;
    for_each([&](VectorState& s, float* t) {
      if (!s.converged()) s.Step(shared ? u_step : s.PrefersU(), t);
    });
  }
  std::vector<GreedyResult> out(static_cast<size_t>(count));
  for_each([&](VectorState& s, float* t) { out[static_cast<size_t>(&s - state.data())] = s.Finish(t); });
  return out;
}

}  // namespace quantd::kashin_internal
