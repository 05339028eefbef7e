// File: kashin_kernels.h
//
// The work of Kashin's CUDA kernels (kashin.cu), written once for the device and the host: the
// kernels compute their thread's index and call these; the tests (kashin_kernels_test.cc) run
// every body on the CPU in the kernels' order and require the CPU encoder's bytes.
//
// Rows mode on the GPU, for a slice whose normalised vectors (NormaliseRows) are in device
// memory, x | u | v | r | y as rows x cols arrays:
//  1. GreedyInit, one thread block per vector: u = v = 0, r = x, y = Q x and their norms.
//  2. step_choice=slice, for each of the first shared_steps steps: SliceChoice (one thread: the
//     step that removes more energy summed over the vectors still running, in vector order),
//     then GreedyStep with that choice, one block per vector.
//  3. GreedyOwnSteps, one block per vector: each vector's own greedy steps until it converges or
//     reaches max_iterations, then GreedyFinish (the true residual).
//  4. k-means step 4 (steps 1-3 run on the host on the gathered sample, kmeans.cc's FitSample):
//     NearestCentroid, one thread per point; SumCentroidBlock, one thread per (block of
//     kSumBlock points, centroid), in point order; CombineCentroidSums, one thread per centroid,
//     in block order. Then the labels are packed (pack_kernels.cuh).
//
// A vector's transform runs in the block's shared memory (hadamard_block.h) and its norms are
// summed exactly as greedy.cc sums them: float sums over the eight interleaved lanes of runs of
// kGreedyRun values (item = (run, lane), one thread each), each run's lanes folded in lane order
// in float, runs added in double, chunks of kGreedyChunk values added in chunk order. Every
// floating-point operation is greedy.cc's and kmeans.cc's, in their order, in IEEE arithmetic
// without FMA, so encodings from the GPU are bit-identical to the CPU's, stats included.
#ifndef QUANTD_CORE_KASHIN_KASHIN_KERNELS_H_
#define QUANTD_CORE_KASHIN_KASHIN_KERNELS_H_

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "core/common/hadamard_block.h"
#include "core/kashin/dct_block.h"
#include "core/kashin/transform.h"
#include "quantd/core/dtype.h"  // QUANTD_HOST_DEVICE
#include "quantd/core/status.h"

namespace quantd {
struct KashinOptions;
}  // namespace quantd

namespace quantd::kashin_internal {

// How greedy.cc sums: runs of kGreedyRun values in kGreedyLanes interleaved float lanes, and
// vectors longer than kGreedyChunk cut into chunks whose double sums are added in order.
inline constexpr int64_t kGreedyChunk = int64_t{1} << 15;
inline constexpr int kGreedyRun = 256;
inline constexpr int kGreedyLanes = 8;

// Sums over a vector: sum |a_i|, sum a_i^2, and the number of non-zero a_i.
struct VecNorms {
  double l1 = 0;
  double sq = 0;
  int64_t nnz = 0;
};

// One vector's greedy state between launches (greedy.cc's VectorState without the pointers).
struct GreedyState {
  VecNorms nx, nr, ny;
  double target = 0;  // tolerance^2 |x|^2
  double residual = 0;
  int64_t iterations = 0;
  int32_t converged = 0;

  QUANTD_HOST_DEVICE double RemovedByU() const {
    return nr.nnz == 0 ? 0.0 : nr.l1 * nr.l1 / static_cast<double>(nr.nnz);
  }
  QUANTD_HOST_DEVICE double RemovedByV() const {
    return ny.nnz == 0 ? 0.0 : ny.l1 * ny.l1 / static_cast<double>(ny.nnz);
  }
  // The greedy choice, compared without dividing; ties go to v.
  QUANTD_HOST_DEVICE bool PrefersU() const {
    return ny.nnz == 0 ||
           nr.l1 * nr.l1 * static_cast<double>(ny.nnz) > ny.l1 * ny.l1 * static_cast<double>(nr.nnz);
  }
};

// The transform Q of one vector length, as the kernels apply it in shared memory: the
// randomized Hadamard transform (hadamard_block.h's parameters), the DCT or the sign-randomised
// DCT C^T E C (dct_block.h, with E in `signs`).
enum BlockTransformKind : int32_t { kBlockHadamard = 0, kBlockDct = 1, kBlockDctSigned = 2 };
struct BlockTransform {
  int32_t kind = kBlockHadamard;
  int n = 0;
  int p = 0;
  float scale = 0;
  const float* signs = nullptr;
  const float* second_signs = nullptr;
  const DctTables* dct = nullptr;
  const float* dct_data = nullptr;
};

// x <- Q x (forward) or Q^T x, in shared memory; work: the transform's work space (none for
// Hadamard). Returns after a barrier, except for n = 1 (the DCT of one value is the identity and
// touches nothing). Callers have a barrier between filling x and calling this.
template <typename Sync>
QUANTD_HOST_DEVICE inline void TransformInBlock(const BlockTransform& q, bool forward, float* x, float* work,
                                                int tid, int threads, Sync& sync) {
  if (q.kind == kBlockHadamard) {
    if (forward) {
      HadamardForwardInBlock(x, q.n, q.p, q.signs, q.second_signs, q.scale, tid, threads, sync);
    } else {
      HadamardInverseInBlock(x, q.n, q.p, q.signs, q.second_signs, q.scale, tid, threads, sync);
    }
    return;
  }
  if (q.kind == kBlockDct) {
    if (forward) {
      DctForwardInBlock(*q.dct, q.dct_data, x, work, tid, threads, sync);
    } else {
      DctInverseInBlock(*q.dct, q.dct_data, x, work, tid, threads, sync);
    }
    return;
  }
  // C^T E C is its own transpose: the same steps both ways (transform.cc's DctTransform).
  DctForwardInBlock(*q.dct, q.dct_data, x, work, tid, threads, sync);
  for (int i = tid; i < q.n; i += threads) x[i] *= q.signs[i];
  sync();
  DctInverseInBlock(*q.dct, q.dct_data, x, work, tid, threads, sync);
}

// A vector's arrays in global memory (length n).
struct VectorArrays {
  const float* x;
  float *u, *v, *r, *y;
};

// Shared-memory work space of a block, for vectors of up to n_max values.
struct BlockScratch {
  VecNorms* result;  // the block's last sums, read by every thread
  float* t;          // n_max: the transformed step
  float* work;       // the transform's work space
  float* lane_l1;    // one per (run, lane) item
  float* lane_sq;
  int32_t* lane_nz;
  float* run_l1;  // one per run
  float* run_sq;
  int32_t* run_nz;
};

// Runs in a vector of n values, and (run, lane) items.
QUANTD_HOST_DEVICE inline int GreedyRuns(int n) { return (n + kGreedyRun - 1) / kGreedyRun; }

// Byte offsets of BlockScratch's arrays in one buffer, and its size, for vectors of up to n_max
// values whose transforms need work_floats of work space.
struct ScratchLayout {
  size_t t_at = 0, work_at = 0, lane_l1_at = 0, lane_sq_at = 0, lane_nz_at = 0, run_l1_at = 0, run_sq_at = 0,
         run_nz_at = 0;
  size_t bytes = 0;
};
QUANTD_HOST_DEVICE inline ScratchLayout LayOutScratch(int n_max, int work_floats) {
  const size_t runs = static_cast<size_t>(GreedyRuns(n_max)), items = runs * kGreedyLanes;
  ScratchLayout l;
  size_t at = (sizeof(VecNorms) + 15) / 16 * 16;
  auto take = [&at](size_t bytes) {
    const size_t here = at;
    at += (bytes + 15) / 16 * 16;
    return here;
  };
  l.t_at = take(static_cast<size_t>(n_max) * 4);
  l.work_at = take(static_cast<size_t>(work_floats) * 4);
  l.lane_l1_at = take(items * 4);
  l.lane_sq_at = take(items * 4);
  l.lane_nz_at = take(items * 4);
  l.run_l1_at = take(runs * 4);
  l.run_sq_at = take(runs * 4);
  l.run_nz_at = take(runs * 4);
  l.bytes = at;
  return l;
}
QUANTD_HOST_DEVICE inline BlockScratch ScratchAt(unsigned char* base, const ScratchLayout& l) {
  BlockScratch s;
  s.result = reinterpret_cast<VecNorms*>(base);
  s.t = reinterpret_cast<float*>(base + l.t_at);
  s.work = reinterpret_cast<float*>(base + l.work_at);
  s.lane_l1 = reinterpret_cast<float*>(base + l.lane_l1_at);
  s.lane_sq = reinterpret_cast<float*>(base + l.lane_sq_at);
  s.lane_nz = reinterpret_cast<int32_t*>(base + l.lane_nz_at);
  s.run_l1 = reinterpret_cast<float*>(base + l.run_l1_at);
  s.run_sq = reinterpret_cast<float*>(base + l.run_sq_at);
  s.run_nz = reinterpret_cast<int32_t*>(base + l.run_nz_at);
  return s;
}

// sign(a) in {-1, 0, +1}, as greedy.cc computes it.
QUANTD_HOST_DEVICE inline float GreedySign(float a) {
  const float p = a > 0.0f ? 1.0f : 0.0f;
  return a < 0.0f ? -1.0f : p;
}

// Applies op(i) -> new value to every index of [0, n) and returns the norms of the new values,
// summed in greedy.cc's order. Each (run, lane) item is one thread's; its values are op's in
// increasing index order (lane 0 also takes the run's tail beyond the last whole group of eight).
// Ends with a barrier; every thread returns the same sums.
template <typename Op, typename Sync>
QUANTD_HOST_DEVICE inline VecNorms BlockPass(int n, const Op& op, const BlockScratch& s, int tid, int threads,
                                             Sync& sync) {
  const int runs = GreedyRuns(n);
  for (int item = tid; item < runs * kGreedyLanes; item += threads) {
    const int run = item / kGreedyLanes, lane = item % kGreedyLanes;
    const int r0 = run * kGreedyRun;
    const int r1 = n - r0 < kGreedyRun ? n : r0 + kGreedyRun;
    const int whole = r0 + (r1 - r0) / kGreedyLanes * kGreedyLanes;
    float l1 = 0.0f, sq = 0.0f;
    int32_t nz = 0;
    for (int i = r0 + lane; i < whole; i += kGreedyLanes) {
      const float a = op(i);
      l1 += std::fabs(a);
      sq += a * a;
      nz += a != 0.0f ? 1 : 0;
    }
    if (lane == 0) {
      for (int i = whole; i < r1; ++i) {
        const float a = op(i);
        l1 += std::fabs(a);
        sq += a * a;
        nz += a != 0.0f ? 1 : 0;
      }
    }
    s.lane_l1[item] = l1;
    s.lane_sq[item] = sq;
    s.lane_nz[item] = nz;
  }
  sync();
  for (int run = tid; run < runs; run += threads) {
    float a = 0.0f, b = 0.0f;
    int32_t z = 0;
    for (int l = 0; l < kGreedyLanes; ++l) {
      a += s.lane_l1[run * kGreedyLanes + l];
      b += s.lane_sq[run * kGreedyLanes + l];
      z += s.lane_nz[run * kGreedyLanes + l];
    }
    s.run_l1[run] = a;
    s.run_sq[run] = b;
    s.run_nz[run] = z;
  }
  sync();
  if (tid == 0) {
    constexpr int kRunsPerChunk = static_cast<int>(kGreedyChunk / kGreedyRun);
    VecNorms total;
    for (int c0 = 0; c0 < runs; c0 += kRunsPerChunk) {
      VecNorms chunk;
      for (int run = c0; run < runs && run < c0 + kRunsPerChunk; ++run) {
        chunk.l1 += s.run_l1[run];
        chunk.sq += s.run_sq[run];
        chunk.nnz += s.run_nz[run];
      }
      total.l1 += chunk.l1;
      total.sq += chunk.sq;
      total.nnz += chunk.nnz;
    }
    *s.result = total;
  }
  sync();
  return *s.result;
}

// Stage 1: greedy.cc's VectorState::Init. Every thread returns the same state.
template <typename Sync>
QUANTD_HOST_DEVICE inline GreedyState GreedyInit(const VectorArrays& a, const BlockTransform& q,
                                                 double tolerance, const BlockScratch& s, int tid,
                                                 int threads, Sync& sync) {
  const int n = q.n;
  GreedyState st;
  for (int i = tid; i < n; i += threads) {
    a.u[i] = 0.0f;
    a.v[i] = 0.0f;
  }
  st.nx = BlockPass(
      n, [&](int i) { return a.x[i]; }, s, tid, threads, sync);
  if (st.nx.sq == 0) {
    st.converged = 1;
    return st;
  }
  for (int i = tid; i < n; i += threads) {
    a.r[i] = a.x[i];
    s.t[i] = a.x[i];
  }
  sync();
  TransformInBlock(q, true, s.t, s.work, tid, threads, sync);
  st.nr = st.nx;
  st.ny = BlockPass(
      n,
      [&](int i) {
        a.y[i] = s.t[i];
        return s.t[i];
      },
      s, tid, threads, sync);
  st.target = tolerance * tolerance * st.nx.sq;
  st.converged = st.nr.sq <= st.target ? 1 : 0;
  return st;
}

// One projection step (VectorState::Step). REQUIRES: !st->converged.
template <typename Sync>
QUANTD_HOST_DEVICE inline void GreedyStep(const VectorArrays& a, const BlockTransform& q, bool u_step,
                                          GreedyState* st, const BlockScratch& s, int tid, int threads,
                                          Sync& sync) {
  const int n = q.n;
  if (st->ny.nnz == 0) u_step = true;
  // The sign step on `from` (accumulating into acc), the transform of the signs, then the
  // update of the other residual.
  float* from = u_step ? a.r : a.y;
  float* acc = u_step ? a.u : a.v;
  float* other = u_step ? a.y : a.r;
  const VecNorms& nf = u_step ? st->nr : st->ny;
  const float c = static_cast<float>(nf.l1 / static_cast<double>(nf.nnz));
  const VecNorms from_norms = BlockPass(
      n,
      [&](int i) {
        const float sg = GreedySign(from[i]);
        const float step = c * sg;
        acc[i] += step;
        const float na = from[i] - step;
        from[i] = na;
        s.t[i] = sg;
        return na;
      },
      s, tid, threads, sync);
  TransformInBlock(q, u_step, s.t, s.work, tid, threads, sync);
  const VecNorms other_norms = BlockPass(
      n,
      [&](int i) {
        const float na = other[i] - c * s.t[i];
        other[i] = na;
        return na;
      },
      s, tid, threads, sync);
  st->nr = u_step ? from_norms : other_norms;
  st->ny = u_step ? other_norms : from_norms;
  ++st->iterations;
  st->converged = st->nr.sq <= st->target ? 1 : 0;
}

// The true residual |x - u - Q^T v| / |x| (VectorState::Finish).
template <typename Sync>
QUANTD_HOST_DEVICE inline void GreedyFinish(const VectorArrays& a, const BlockTransform& q, GreedyState* st,
                                            const BlockScratch& s, int tid, int threads, Sync& sync) {
  if (st->nx.sq == 0) return;
  const int n = q.n;
  for (int i = tid; i < n; i += threads) s.t[i] = a.v[i];
  sync();
  TransformInBlock(q, false, s.t, s.work, tid, threads, sync);
  const VecNorms ne = BlockPass(
      n,
      [&](int i) {
        const float e = (a.x[i] - a.u[i]) - s.t[i];
        s.t[i] = e;
        return e;
      },
      s, tid, threads, sync);
  st->residual = std::sqrt(ne.sq / st->nx.sq);
}

// Stage 3: the vector's own greedy steps, then the residual.
template <typename Sync>
QUANTD_HOST_DEVICE inline void GreedyOwnSteps(const VectorArrays& a, const BlockTransform& q,
                                              int64_t max_iterations, GreedyState* st, const BlockScratch& s,
                                              int tid, int threads, Sync& sync) {
  while (!st->converged && st->iterations < max_iterations) {
    GreedyStep(a, q, st->PrefersU(), st, s, tid, threads, sync);
  }
  GreedyFinish(a, q, st, s, tid, threads, sync);
}

// Stage 2's choice: any vector still running, and whether the u step removes more energy in
// total (DecomposeSlice's sums, in vector order).
struct SliceDecision {
  int32_t any = 0;
  int32_t u_step = 0;
};
QUANTD_HOST_DEVICE inline SliceDecision SliceChoice(const GreedyState* states, int64_t count) {
  double by_u = 0, by_v = 0;
  SliceDecision d;
  for (int64_t i = 0; i < count; ++i) {
    if (states[i].converged) continue;
    d.any = 1;
    by_u += states[i].RemovedByU();
    by_v += states[i].RemovedByV();
  }
  d.u_step = by_u > by_v ? 1 : 0;
  return d;
}

// --- k-means step 4 ----------------------------------------------------------------------------

// The nearest of k centroids (ties: the lowest index), distances in float as kmeans.cc's.
QUANTD_HOST_DEVICE inline uint8_t NearestCentroid(float pu, float pv, const float* cu, const float* cv,
                                                  int k) {
  float du = pu - cu[0], dv = pv - cv[0];
  float best = du * du + dv * dv;
  int lab = 0;
  for (int j = 1; j < k; ++j) {
    du = pu - cu[j];
    dv = pv - cv[j];
    const float d = du * du + dv * dv;
    if (d < best) {
      best = d;
      lab = j;
    }
  }
  return static_cast<uint8_t>(lab);
}

// A centroid's count and double sums over a block of points: its points added in point order.
struct CentroidSum {
  int64_t count = 0;
  double su = 0;
  double sv = 0;
};
QUANTD_HOST_DEVICE inline void AddPoint(float pu, float pv, CentroidSum* s) {
  ++s->count;
  s->su += pu;
  s->sv += pv;
}

// Centroid j's total over `blocks` per-block sums (block-major: blocks x k), in block order.
QUANTD_HOST_DEVICE inline CentroidSum CombineCentroidSums(const CentroidSum* parts, int64_t blocks, int k,
                                                          int j) {
  CentroidSum t;
  for (int64_t b = 0; b < blocks; ++b) {
    const CentroidSum& p = parts[b * k + j];
    t.count += p.count;
    t.su += p.su;
    t.sv += p.sv;
  }
  return t;
}

// The structs the host and the device exchange as bytes: the same layout on both sides (this
// header is compiled by both).
static_assert(std::is_trivially_copyable_v<GreedyState> && sizeof(GreedyState) == 104);
static_assert(std::is_trivially_copyable_v<SliceDecision> && sizeof(SliceDecision) == 8);
static_assert(std::is_trivially_copyable_v<CentroidSum> && sizeof(CentroidSum) == 24);
static_assert(std::is_trivially_copyable_v<DctTables> && sizeof(DctTables) == 334 * sizeof(int));

// --- host side (kashin_kernels.cc) ------------------------------------------------------------

// The tables behind a BlockTransform: transform.h's GetTransform(kind, n, seed) as the kernels
// apply it.
struct TransformTables {
  int32_t kind = kBlockHadamard;
  int n = 0;
  int p = 0;                        // Hadamard: the largest power of two <= n
  float scale = 0;                  // Hadamard: float(1 / sqrt(double(p))), as hadamard.cc
  std::vector<float> signs;         // Hadamard: D (n entries); dct_signed: E (n entries)
  std::vector<float> second_signs;  // Hadamard: p entries (empty when p == n)
  DctTables dct;                    // dct, dct_signed
  std::vector<float> dct_data;

  // Floats of block work space the transform needs.
  int WorkFloats() const { return kind == kBlockHadamard ? 0 : DctWorkFloats(dct); }
  // The transform over these tables, or over a device copy of them.
  BlockTransform View(const float* signs_at, const float* second_at, const DctTables* dct_at,
                      const float* dct_data_at) const {
    return {kind, n, p, scale, signs_at, second_at, dct_at, dct_data_at};
  }
  BlockTransform View() const { return View(signs.data(), second_signs.data(), &dct, dct_data.data()); }
};
// UNIMPLEMENTED for qr (a dense n x n matrix per vector; it stays on the CPU).
StatusOr<TransformTables> MakeTransformTables(TransformKind kind, int64_t n, uint64_t seed);

// The launch plan (pure host arithmetic, tested).

struct KashinCudaPlan {
  int64_t len = 0;               // length of a row's blocks but the last
  int64_t last = 0;              // length of the last block
  int threads = 0;               // threads per vector block
  TransformTables full, last_q;  // the transforms of the two lengths (the same when len == last)
  ScratchLayout scratch;         // for vectors of up to len values and either transform
};

// The plan for rows of `cols` weights. UNIMPLEMENTED for what stays on the CPU: matrix mode, the
// dense qr transform, and vectors whose scratch exceeds max_smem_per_block (the device's opt-in
// maximum).
StatusOr<KashinCudaPlan> PlanKashinCuda(const KashinOptions& o, int64_t cols, int64_t max_smem_per_block);

}  // namespace quantd::kashin_internal

#endif  // QUANTD_CORE_KASHIN_KASHIN_KERNELS_H_
