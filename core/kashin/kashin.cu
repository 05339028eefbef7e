#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstring>
#include <string>
#include <vector>

#include "core/common/bitpack.h"
#include "core/cuda/cuda_util.h"
#include "core/cuda/pack_kernels.cuh"
#include "core/kashin/kashin.h"
#include "core/kashin/kashin_cuda.h"
#include "core/kashin/kashin_kernels.h"

namespace quantd::kashin_cuda {
namespace {

using kashin_internal::BlockScratch;
using kashin_internal::BlockTransform;
using kashin_internal::CentroidSum;
using kashin_internal::GreedyState;
using kashin_internal::KashinCudaPlan;
using kashin_internal::ScratchLayout;
using kashin_internal::SliceDecision;
using kashin_internal::VectorArrays;

// --- Kernels: thread indexing around the bodies of kashin_kernels.h -----------------------------

// The slice's arrays and tables in device memory.
struct Slice {
  const float* x;
  float *u, *v, *r, *y;
  const kashin_internal::RowVector* vectors;  // NormaliseRows' list, as it is
  int64_t count;
  GreedyState* states;
  SliceDecision* decision;
  BlockTransform full, last;
  int64_t len;
};

static_assert(std::is_trivially_copyable_v<kashin_internal::RowVector> &&
              sizeof(kashin_internal::RowVector) == 24);

__device__ VectorArrays ArraysOf(const Slice& s, int64_t i) {
  const int64_t o = s.vectors[i].offset;
  return {s.x + o, s.u + o, s.v + o, s.r + o, s.y + o};
}

__device__ BlockTransform TransformOf(const Slice& s, int64_t i) {
  return s.vectors[i].length == s.len ? s.full : s.last;
}

__device__ BlockScratch Scratch(const ScratchLayout& l) {
  extern __shared__ __align__(16) unsigned char smem[];
  return kashin_internal::ScratchAt(smem, l);
}

// Stage 1, one block per vector.
__global__ void InitKernel(Slice s, ScratchLayout l, double tolerance) {
  const int64_t i = blockIdx.x;
  const BlockScratch sc = Scratch(l);
  auto sync = [] { __syncthreads(); };
  const GreedyState st =
      kashin_internal::GreedyInit(ArraysOf(s, i), TransformOf(s, i), tolerance, sc,
                                  static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x), sync);
  if (threadIdx.x == 0) s.states[i] = st;
}

// Stage 2's choice: SliceChoice's sums in vector order, with the states read a tile at a time by
// the whole block (thread 0 adds them in order).
constexpr int kChoiceThreads = 256;
__global__ void __launch_bounds__(kChoiceThreads)
    ChoiceKernel(const GreedyState* states, int64_t count, SliceDecision* decision) {
  __shared__ double by_u_tile[kChoiceThreads], by_v_tile[kChoiceThreads];
  __shared__ int running_tile[kChoiceThreads];
  double by_u = 0, by_v = 0;
  int any = 0;
  for (int64_t t0 = 0; t0 < count; t0 += kChoiceThreads) {
    const int64_t i = t0 + threadIdx.x;
    if (i < count) {
      const GreedyState& st = states[i];
      running_tile[threadIdx.x] = st.converged ? 0 : 1;
      by_u_tile[threadIdx.x] = st.RemovedByU();
      by_v_tile[threadIdx.x] = st.RemovedByV();
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      const int64_t n = count - t0 < kChoiceThreads ? count - t0 : kChoiceThreads;
      for (int64_t j = 0; j < n; ++j) {
        if (!running_tile[j]) continue;
        any = 1;
        by_u += by_u_tile[j];
        by_v += by_v_tile[j];
      }
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) *decision = SliceDecision{any, by_u > by_v ? 1 : 0};
}

// Stage 2's step, one block per vector.
__global__ void SharedStepKernel(Slice s, ScratchLayout l) {
  const int64_t i = blockIdx.x;
  const SliceDecision d = *s.decision;
  GreedyState st = s.states[i];
  if (!d.any || st.converged) return;  // the same for every thread of the block
  const BlockScratch sc = Scratch(l);
  auto sync = [] { __syncthreads(); };
  kashin_internal::GreedyStep(ArraysOf(s, i), TransformOf(s, i), d.u_step != 0, &st, sc,
                              static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x), sync);
  if (threadIdx.x == 0) s.states[i] = st;
}

// Stage 3, one block per vector.
__global__ void OwnStepsKernel(Slice s, ScratchLayout l, int64_t max_iterations) {
  const int64_t i = blockIdx.x;
  GreedyState st = s.states[i];
  const BlockScratch sc = Scratch(l);
  auto sync = [] { __syncthreads(); };
  kashin_internal::GreedyOwnSteps(ArraysOf(s, i), TransformOf(s, i), max_iterations, &st, sc,
                                  static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x), sync);
  __syncthreads();  // every thread has read the state before thread 0 rewrites it
  if (threadIdx.x == 0) s.states[i] = st;
}

constexpr int kPointThreads = 256;

// The sample's points (k-means step 1), one thread each.
__global__ void GatherKernel(const float* u, const float* v, const int64_t* idx, int64_t m, float* su,
                             float* sv) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= m) return;
  su[i] = u[idx[i]];
  sv[i] = v[idx[i]];
}

// Every point's nearest centroid, one thread per point; the codebook in shared memory.
__global__ void __launch_bounds__(kPointThreads)
    AssignKernel(const float* u, const float* v, int64_t n, const float* centroids, int k, uint8_t* labels) {
  __shared__ float cu[256], cv[256];
  for (int j = threadIdx.x; j < k; j += blockDim.x) {
    cu[j] = centroids[2 * j];
    cv[j] = centroids[2 * j + 1];
  }
  __syncthreads();
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  labels[i] = kashin_internal::NearestCentroid(u[i], v[i], cu, cv, k);
}

// One block per kSumBlock points, thread j for centroid j: its points' sums in point order. The
// block's labels are staged in shared memory, where every thread reads the same byte at once.
__global__ void SumKernel(const float* u, const float* v, const uint8_t* labels, int64_t n, int k,
                          CentroidSum* parts) {
  __shared__ uint8_t lab[kashin_internal::kSumBlock];
  const int64_t b = blockIdx.x;
  const int64_t begin = b * kashin_internal::kSumBlock;
  const int64_t len = n - begin < kashin_internal::kSumBlock ? n - begin : kashin_internal::kSumBlock;
  for (int64_t i = threadIdx.x; i < len; i += blockDim.x) lab[i] = labels[begin + i];
  __syncthreads();
  const int j = static_cast<int>(threadIdx.x);
  if (j >= k) return;
  CentroidSum s;
  for (int64_t i = 0; i < len; ++i) {
    if (lab[i] == j) kashin_internal::AddPoint(u[begin + i], v[begin + i], &s);
  }
  parts[b * k + j] = s;
}

// One thread per centroid: the blocks' sums in block order.
__global__ void CombineKernel(const CentroidSum* parts, int64_t blocks, int k, CentroidSum* totals) {
  const int j = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (j >= k) return;
  totals[j] = kashin_internal::CombineCentroidSums(parts, blocks, k, j);
}

// --- Host side ---------------------------------------------------------------------------------

size_t Align(size_t bytes) { return (bytes + 255) / 256 * 256; }

unsigned Blocks(int64_t threads, int per_block) {
  return static_cast<unsigned>((threads + per_block - 1) / per_block);
}

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Where one transform's tables lie in the small device buffer.
struct TablesAt {
  size_t signs = 0, second = 0, dct = 0, dct_data = 0;
};

// Byte offsets of the small device buffer: vectors | states | decision | the two transforms'
// tables.
struct SmallLayout {
  size_t vectors_at = 0, states_at = 0, decision_at = 0, bytes = 0;
  TablesAt full, last;
};

SmallLayout LayOutSmall(int64_t count, const kashin_internal::TransformTables& full,
                        const kashin_internal::TransformTables& last) {
  SmallLayout l;
  size_t at = 0;
  auto take = [&at](size_t bytes) {
    const size_t here = at;
    at += Align(bytes);
    return here;
  };
  l.vectors_at = take(static_cast<size_t>(count) * sizeof(kashin_internal::RowVector));
  l.states_at = take(static_cast<size_t>(count) * sizeof(GreedyState));
  l.decision_at = take(sizeof(SliceDecision));
  for (auto [t, where] : {std::pair{&full, &l.full}, std::pair{&last, &l.last}}) {
    where->signs = take(t->signs.size() * 4);
    where->second = take(t->second_signs.size() * 4);
    where->dct = take(sizeof(kashin_internal::DctTables));
    where->dct_data = take(t->dct_data.size() * 4);
  }
  l.bytes = at;
  return l;
}

// Copies t's tables into the host image of the small buffer at `at`.
void FillTables(const kashin_internal::TransformTables& t, const TablesAt& at, uint8_t* host) {
  memcpy(host + at.signs, t.signs.data(), t.signs.size() * 4);
  memcpy(host + at.second, t.second_signs.data(), t.second_signs.size() * 4);
  memcpy(host + at.dct, &t.dct, sizeof(t.dct));
  memcpy(host + at.dct_data, t.dct_data.data(), t.dct_data.size() * 4);
}

// t over the device copy of its tables at `at` in `device`.
BlockTransform DeviceView(const kashin_internal::TransformTables& t, const TablesAt& at,
                          const uint8_t* device) {
  return t.View(reinterpret_cast<const float*>(device + at.signs),
                reinterpret_cast<const float*>(device + at.second),
                reinterpret_cast<const kashin_internal::DctTables*>(device + at.dct),
                reinterpret_cast<const float*>(device + at.dct_data));
}

// Lets the vector kernels launch with `bytes` of dynamic shared memory. The attribute is the
// kernel's, process-wide: every caller sets the device maximum, so that a concurrent call never
// lowers it below what another one launches with.
Status SetSharedMemory(size_t bytes, int max_smem) {
  if (bytes <= 48 * 1024) return OkStatus();
  for (const void* f :
       {reinterpret_cast<const void*>(InitKernel), reinterpret_cast<const void*>(SharedStepKernel),
        reinterpret_cast<const void*>(OwnStepsKernel)}) {
    QUANTD_CUDA_RETURN_IF_ERROR(
        cudaFuncSetAttribute(f, cudaFuncAttributeMaxDynamicSharedMemorySize, max_smem),
        "cudaFuncSetAttribute");
  }
  return OkStatus();
}

}  // namespace

StatusOr<Encoding> EncodeTimed(const Chunk& in, const Params& resolved, StageTimes* times) {
  StageTimes t;
  auto clock = std::chrono::steady_clock::now();
  QUANTD_ASSIGN_OR_RETURN(KashinOptions o, KashinOptions::FromParams(resolved));
  QUANTD_ASSIGN_OR_RETURN(cuda::ThreadResources * res, cuda::ThreadResources::Get());
  int max_smem = 0;
  QUANTD_CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&max_smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0),
                              "cudaDeviceGetAttribute");
  QUANTD_ASSIGN_OR_RETURN(KashinCudaPlan plan, kashin_internal::PlanKashinCuda(o, in.cols, max_smem));
  QUANTD_RETURN_IF_ERROR(SetSharedMemory(plan.scratch.bytes, max_smem));
  const int64_t rows = in.rows, cols = in.cols, n = rows * cols;
  QUANTD_ASSIGN_OR_RETURN(kashin_internal::NormalisedRows nr, kashin_internal::NormaliseRows(in, o));
  const int64_t count = static_cast<int64_t>(nr.vectors.size());
  if (count > INT_MAX) return UnimplementedError("kashin on CUDA: too many vectors for one launch");
  const kashin_internal::TransformTables& full = plan.full;
  const kashin_internal::TransformTables& last = plan.last_q;
  const kashin_internal::GreedyOptions g = kashin_internal::RowsGreedyOptions(o);
  const kashin_internal::KMeansOptions ko = kashin_internal::KMeansOptionsFor(o);
  const int k = ko.k;
  const int64_t row_bytes = static_cast<int64_t>(PackedBytes(static_cast<size_t>(cols), o.bits));
  const int64_t sum_blocks = (n + kashin_internal::kSumBlock - 1) / kashin_internal::kSumBlock;
  const std::vector<int64_t> sample = kashin_internal::SampleIndices(n, ko.sample_size, ko.seed);
  const int64_t m = static_cast<int64_t>(sample.size());
  t.prepare_ms = MsSince(clock);
  clock = std::chrono::steady_clock::now();

  // Device: x | u | v | r | y (slot 0); labels | codes (1); vectors | states | decision | tables
  // (2); sample indices | sample points | centroids | per-block sums | totals (3).
  const size_t weights = static_cast<size_t>(n);
  const SmallLayout sl = LayOutSmall(count, full, last);
  const size_t idx_at = 0, pts_at = Align(static_cast<size_t>(m) * 8),
               cent_at = pts_at + Align(static_cast<size_t>(m) * 8),
               parts_at = cent_at + Align(static_cast<size_t>(k) * 8),
               totals_at = parts_at + Align(static_cast<size_t>(sum_blocks * k) * sizeof(CentroidSum)),
               kmeans_bytes = totals_at + Align(static_cast<size_t>(k) * sizeof(CentroidSum));
  QUANTD_ASSIGN_OR_RETURN(void* d_arrays, res->Device(0, 5 * weights * 4));
  QUANTD_ASSIGN_OR_RETURN(void* d_labels,
                          res->Device(1, Align(weights) + static_cast<size_t>(rows * row_bytes)));
  QUANTD_ASSIGN_OR_RETURN(void* d_small, res->Device(2, sl.bytes));
  QUANTD_ASSIGN_OR_RETURN(void* d_kmeans, res->Device(3, kmeans_bytes));
  // Pinned host: the normalised rows (0) | the codes (1) | the small buffer's upload, then the
  // states, the sample points and the sums coming back (2).
  const size_t back_bytes =
      std::max({static_cast<size_t>(count) * sizeof(GreedyState), static_cast<size_t>(m) * 8,
                static_cast<size_t>(k) * sizeof(CentroidSum)});
  QUANTD_ASSIGN_OR_RETURN(void* h_rows, res->Host(0, weights * 4));
  QUANTD_ASSIGN_OR_RETURN(void* h_codes, res->Host(1, static_cast<size_t>(rows * row_bytes)));
  QUANTD_ASSIGN_OR_RETURN(void* h_small,
                          res->Host(2, std::max(sl.bytes, back_bytes) + Align(static_cast<size_t>(m) * 8)));

  cudaStream_t st = res->stream();
  cuda::Events events;
  events.DrainOnExit(st);  // from here on, copies may be in flight
  cudaEvent_t marks[2];
  for (cudaEvent_t& e : marks) {
    QUANTD_ASSIGN_OR_RETURN(e, events.Make(cudaEventDefault));
  }
  float* x = static_cast<float*>(d_arrays);
  Slice s;
  s.x = x;
  s.u = x + weights;
  s.v = x + 2 * weights;
  s.r = x + 3 * weights;
  s.y = x + 4 * weights;
  uint8_t* small = static_cast<uint8_t*>(d_small);
  s.vectors = reinterpret_cast<const kashin_internal::RowVector*>(small + sl.vectors_at);
  s.count = count;
  s.states = reinterpret_cast<GreedyState*>(small + sl.states_at);
  s.decision = reinterpret_cast<SliceDecision*>(small + sl.decision_at);
  s.full = DeviceView(full, sl.full, small);
  s.last = DeviceView(last, sl.last, small);
  s.len = plan.len;
  {
    uint8_t* h = static_cast<uint8_t*>(h_small);
    memcpy(h + sl.vectors_at, nr.vectors.data(), nr.vectors.size() * sizeof(kashin_internal::RowVector));
    FillTables(full, sl.full, h);
    FillTables(last, sl.last, h);
    int64_t* h_idx = reinterpret_cast<int64_t*>(h + std::max(sl.bytes, back_bytes));
    std::copy(sample.begin(), sample.end(), h_idx);
  }
  cuda::ParallelCopy(h_rows, nr.xn.data(), weights * 4);
  QUANTD_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(x, h_rows, weights * 4, cudaMemcpyHostToDevice, st),
                              "kashin upload");
  QUANTD_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(s.u, 0, 2 * weights * 4, st), "kashin factors");  // u and v
  QUANTD_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(d_small, h_small, sl.bytes, cudaMemcpyHostToDevice, st),
                              "kashin tables");
  uint8_t* km = static_cast<uint8_t*>(d_kmeans);
  QUANTD_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(km + idx_at, static_cast<uint8_t*>(h_small) + std::max(sl.bytes, back_bytes),
                      static_cast<size_t>(m) * 8, cudaMemcpyHostToDevice, st),
      "kashin sample");
  QUANTD_CUDA_RETURN_IF_ERROR(cudaEventRecord(marks[0], st), "kashin event");

  // The decompositions.
  if (count > 0) {
    const unsigned grid = static_cast<unsigned>(count);
    const int threads = plan.threads;
    const size_t smem = plan.scratch.bytes;
    InitKernel<<<grid, threads, smem, st>>>(s, plan.scratch, g.tolerance);
    QUANTD_CUDA_RETURN_IF_ERROR(cudaGetLastError(), "kashin greedy launch");
    for (int64_t step = 0; step < std::min(g.shared_steps, g.max_iterations); ++step) {
      ChoiceKernel<<<1, kChoiceThreads, 0, st>>>(s.states, count, s.decision);
      SharedStepKernel<<<grid, threads, smem, st>>>(s, plan.scratch);
    }
    OwnStepsKernel<<<grid, threads, smem, st>>>(s, plan.scratch, g.max_iterations);
    QUANTD_CUDA_RETURN_IF_ERROR(cudaGetLastError(), "kashin greedy launch");
    QUANTD_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(h_small, s.states, static_cast<size_t>(count) * sizeof(GreedyState),
                        cudaMemcpyDeviceToHost, st),
        "kashin states");
  }
  QUANTD_CUDA_RETURN_IF_ERROR(cudaEventRecord(marks[1], st), "kashin event");
  QUANTD_RETURN_IF_ERROR(res->Sync("kashin greedy on CUDA"));
  float greedy_ms = 0;
  QUANTD_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&greedy_ms, marks[0], marks[1]), "kashin timing");
  t.greedy_ms = greedy_ms;
  t.upload_ms = MsSince(clock) - greedy_ms;
  clock = std::chrono::steady_clock::now();

  std::vector<kashin_internal::GreedyResult> results(static_cast<size_t>(count));
  const GreedyState* states = static_cast<const GreedyState*>(h_small);
  for (int64_t i = 0; i < count; ++i)
    results[static_cast<size_t>(i)] = {states[i].iterations, states[i].converged != 0, states[i].residual};
  Encoding enc;
  const std::vector<int64_t> fallback =
      kashin_internal::AddRowsStats(rows, cols, o, nr.vectors, results, &enc);
  if (!fallback.empty()) {
    // Some rows are kept unquantized: the CPU clusters the others (a rare path).
    std::vector<float> u(weights), v(weights);
    QUANTD_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(u.data(), s.u, weights * 4, cudaMemcpyDeviceToHost, st),
                                "kashin factors");
    QUANTD_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(v.data(), s.v, weights * 4, cudaMemcpyDeviceToHost, st),
                                "kashin factors");
    QUANTD_RETURN_IF_ERROR(res->Sync("kashin factors from CUDA"));
    events.Done();
    kashin_internal::Clustered cl =
        kashin_internal::ClusterAndPack(in, o, kashin_internal::FastKernels(), u, v, fallback);
    QUANTD_RETURN_IF_ERROR(kashin_internal::AddSections(in, o, std::move(cl.codes), std::move(nr.scales),
                                                        cl.codebook.get(), fallback, &enc));
    t.fit_ms = MsSince(clock);
    if (times) *times = t;
    return enc;
  }

  // k-means steps 1-3: the sample's points back to the host, the codebook fitted there.
  float* su = reinterpret_cast<float*>(km + pts_at);
  float* sv = su + m;
  if (m > 0) {
    GatherKernel<<<Blocks(m, kPointThreads), kPointThreads, 0, st>>>(
        s.u, s.v, reinterpret_cast<const int64_t*>(km + idx_at), m, su, sv);
    QUANTD_CUDA_RETURN_IF_ERROR(cudaGetLastError(), "kashin gather launch");
  }
  QUANTD_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(h_small, su, static_cast<size_t>(m) * 8, cudaMemcpyDeviceToHost, st), "kashin sample");
  QUANTD_RETURN_IF_ERROR(res->Sync("kashin sample on CUDA"));
  const float* h_su = static_cast<const float*>(h_small);
  kashin_internal::Codebook c = kashin_internal::FitSample(h_su, h_su + m, m, ko);
  t.fit_ms = MsSince(clock);
  clock = std::chrono::steady_clock::now();

  // Step 4 on the device: labels, per-block sums, totals; then the labels packed.
  float* h_cent = static_cast<float*>(h_small);
  for (int j = 0; j < k; ++j) {
    h_cent[2 * j] = c.cu[static_cast<size_t>(j)];
    h_cent[2 * j + 1] = c.cv[static_cast<size_t>(j)];
  }
  float* d_cent = reinterpret_cast<float*>(km + cent_at);
  CentroidSum* parts = reinterpret_cast<CentroidSum*>(km + parts_at);
  CentroidSum* totals = reinterpret_cast<CentroidSum*>(km + totals_at);
  uint8_t* labels = static_cast<uint8_t*>(d_labels);
  uint8_t* codes = labels + Align(weights);
  QUANTD_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(d_cent, h_cent, static_cast<size_t>(k) * 8, cudaMemcpyHostToDevice, st),
      "kashin codebook");
  if (n > 0) {
    AssignKernel<<<Blocks(n, kPointThreads), kPointThreads, 0, st>>>(s.u, s.v, n, d_cent, k, labels);
    SumKernel<<<static_cast<unsigned>(sum_blocks), std::max(32, (k + 31) / 32 * 32), 0, st>>>(
        s.u, s.v, labels, n, k, parts);
    CombineKernel<<<1, std::max(32, (k + 31) / 32 * 32), 0, st>>>(parts, sum_blocks, k, totals);
    cuda::PackRowBytes<<<Blocks(rows * row_bytes, kPointThreads), kPointThreads, 0, st>>>(
        labels, rows, cols, o.bits, codes, row_bytes);
    QUANTD_CUDA_RETURN_IF_ERROR(cudaGetLastError(), "kashin assignment launch");
  }
  // The codebook upload read h_small; the totals may overwrite it only after the copy ran, which
  // stream order guarantees.
  QUANTD_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(h_small, totals, static_cast<size_t>(k) * sizeof(CentroidSum),
                                              cudaMemcpyDeviceToHost, st),
                              "kashin sums");
  QUANTD_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(h_codes, codes, static_cast<size_t>(rows * row_bytes), cudaMemcpyDeviceToHost, st),
      "kashin codes");
  QUANTD_RETURN_IF_ERROR(res->Sync("kashin k-means on CUDA"));
  events.Done();
  t.assign_ms = MsSince(clock);
  clock = std::chrono::steady_clock::now();

  kashin_internal::CentroidSums sums(k);
  const CentroidSum* h_tot = static_cast<const CentroidSum*>(h_small);
  for (int j = 0; j < k; ++j) {
    sums.count[static_cast<size_t>(j)] = h_tot[j].count;
    sums.su[static_cast<size_t>(j)] = h_tot[j].su;
    sums.sv[static_cast<size_t>(j)] = h_tot[j].sv;
  }
  kashin_internal::SetMeans(sums, &c);
  Section code_section = Section::Zeros("codes", DType::kU8, {rows, row_bytes});
  cuda::ParallelCopy(code_section.data.data(), h_codes, static_cast<size_t>(rows * row_bytes));
  QUANTD_RETURN_IF_ERROR(
      kashin_internal::AddSections(in, o, std::move(code_section), std::move(nr.scales), &c, fallback, &enc));
  t.download_ms = MsSince(clock);
  if (times) *times = t;
  return enc;
}

StatusOr<Encoding> Encode(const Chunk& in, const Params& resolved) {
  return EncodeTimed(in, resolved, nullptr);
}

}  // namespace quantd::kashin_cuda
