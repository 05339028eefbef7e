#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/common/hadamard.h"
#include "core/cuda/cuda_util.h"
#include "core/pvq/pvq.h"
#include "core/pvq/pvq_cuda.h"
#include "core/pvq/pvq_kernels.h"

namespace quantd::pvq_cuda {
namespace {

using pvq_internal::CudaPlan;
using pvq_internal::kCudaGroupThreads;
using pvq_internal::PvqLayout;
using pvq_internal::PyramidCounts;
using pvq_internal::RowCodec;
using pvq_internal::SearchMode;

// --- Kernels: thread indexing around the bodies of pvq_kernels.h ------------------------------

// One block per row, the row in dynamic shared memory (n floats).
__global__ void RotateKernel(float* x, int n, int p, const float* signs, const float* second_signs,
                             float scale) {
  extern __shared__ float s[];
  float* row = x + static_cast<int64_t>(blockIdx.x) * n;
  auto sync = [] { __syncthreads(); };
  pvq_internal::RotateRow(row, s, row, n, p, signs, second_signs, scale, static_cast<int>(threadIdx.x),
                          static_cast<int>(blockDim.x), sync);
}

// One thread per group; the search's by-products are summed per warp, then added to stats[0]
// (vertex evaluations) and stats[1] (improved groups): integer sums, exact in any order.
template <int kCap>
__global__ void __launch_bounds__(kCudaGroupThreads)
    SearchKernel(const float* x, PvqLayout lay, SearchMode mode, int64_t n_groups, int32_t* p, double* fitted,
                 unsigned long long* stats) {
  const int64_t gidx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  unsigned long long evals = 0, improved = 0;
  if (gidx < n_groups) {
    const pvq_internal::SearchResult r = pvq_internal::SearchGroup<kCap>(x, lay, mode, gidx, p, fitted);
    evals = static_cast<unsigned long long>(r.hull_evals);
    improved = r.improved ? 1 : 0;
  }
  for (int off = 16; off > 0; off >>= 1) {  // every lane takes part (blocks are whole warps)
    evals += __shfl_down_sync(0xffffffffu, evals, off);
    improved += __shfl_down_sync(0xffffffffu, improved, off);
  }
  if ((threadIdx.x & 31) == 0) {
    if (evals != 0) atomicAdd(stats, evals);
    if (improved != 0) atomicAdd(stats + 1, improved);
  }
}

// One thread per row.
__global__ void FitKernel(const double* fitted, PvqLayout lay, const float* levels, int n_levels,
                          const float* tail_levels, int n_tail, DType dtype, int64_t rows, uint8_t* codes,
                          float* scales) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  const int64_t groups = lay.groups();
  scales[r] = pvq_internal::FitRow(fitted + r * groups, lay, levels, n_levels, tail_levels, n_tail, dtype,
                                   codes + r * groups);
}

// One thread per group.
template <int W>
__global__ void __launch_bounds__(kCudaGroupThreads)
    PackKernel(PyramidCounts counts, PvqLayout lay, const int32_t* p, const uint8_t* codes, int64_t n_groups,
               uint32_t* stream, int64_t row_words) {
  const int64_t gidx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (gidx >= n_groups) return;
  pvq_internal::PackGroup<W>(counts, lay, p, codes, gidx, stream, row_words);
}

// --- Host side ---------------------------------------------------------------------------------

// Rounds up to a multiple of 256 bytes (the alignment of every sub-buffer).
size_t Align(size_t bytes) { return (bytes + 255) / 256 * 256; }

// Read-only inputs of the kernels in device memory.
struct Constants {
  const float* signs = nullptr;         // D, cols entries
  const float* second_signs = nullptr;  // E, rotate_p entries (none when cols is a power of two)
  const float* levels = nullptr;
  int n_levels = 0;
  const float* tail_levels = nullptr;
  int n_tail = 0;
  PyramidCounts counts;
};

// The constants laid out in one buffer: sizes and offsets.
struct ConstantsLayout {
  size_t signs_at = 0, second_at = 0, levels_at = 0, tail_at = 0, counts_at = 0, bytes = 0;
};

ConstantsLayout LayOutConstants(const RowCodec& c, const CudaPlan& plan) {
  ConstantsLayout l;
  const bool second = plan.rotate_p != 0 && plan.rotate_p != c.layout.cols;
  size_t at = 0;
  l.signs_at = at;
  at += Align(plan.rotate_p != 0 ? static_cast<size_t>(c.layout.cols) * 4 : 0);
  l.second_at = at;
  at += Align(second ? static_cast<size_t>(plan.rotate_p) * 4 : 0);
  l.levels_at = at;
  at += Align(c.levels ? c.levels->size() * 4 : 0);
  l.tail_at = at;
  at += Align(c.tail_levels ? c.tail_levels->size() * 4 : 0);
  l.counts_at = at;
  at += Align(c.table->size_words() * 8);
  l.bytes = at;
  return l;
}

// Fills `host` (l.bytes) with the constants of `c` (and the rotation's signs).
void FillConstants(const RowCodec& c, const CudaPlan& plan, const ConstantsLayout& l, uint64_t seed,
                   uint8_t* host) {
  if (plan.rotate_p != 0) {
    const RandomizedHadamard rot(c.layout.cols, seed);
    float* signs = reinterpret_cast<float*>(host + l.signs_at);
    for (int64_t i = 0; i < c.layout.cols; ++i) signs[i] = rot.sign(i);
    if (plan.rotate_p != c.layout.cols) {
      float* second = reinterpret_cast<float*>(host + l.second_at);
      for (int64_t i = 0; i < plan.rotate_p; ++i) second[i] = rot.second_sign(i);
    }
  }
  if (c.levels) memcpy(host + l.levels_at, c.levels->data(), c.levels->size() * 4);
  if (c.tail_levels) memcpy(host + l.tail_at, c.tail_levels->data(), c.tail_levels->size() * 4);
  memcpy(host + l.counts_at, c.table->Count(0, 0), c.table->size_words() * 8);
}

Constants DeviceConstants(const RowCodec& c, const ConstantsLayout& l, const uint8_t* device) {
  Constants k;
  k.signs = reinterpret_cast<const float*>(device + l.signs_at);
  k.second_signs = reinterpret_cast<const float*>(device + l.second_at);
  if (c.levels) {
    k.levels = reinterpret_cast<const float*>(device + l.levels_at);
    k.n_levels = static_cast<int>(c.levels->size());
  }
  if (c.tail_levels) {
    k.tail_levels = reinterpret_cast<const float*>(device + l.tail_at);
    k.n_tail = static_cast<int>(c.tail_levels->size());
  }
  k.counts = {reinterpret_cast<const uint64_t*>(device + l.counts_at), c.table->max_pulses(),
              c.table->words()};
  return k;
}

// Device buffers of one pass of up to plan.chunk_rows rows.
struct PassBuffers {
  float* x = nullptr;                   // rows x cols: the input, rotated in place
  int32_t* p = nullptr;                 // rows x cols: the pyramid points
  double* fitted = nullptr;             // rows x groups
  uint8_t* codes = nullptr;             // rows x groups: gain codes
  uint32_t* stream = nullptr;           // rows x row_words
  float* scales = nullptr;              // this pass's rows of the row scales
  unsigned long long* stats = nullptr;  // 2 counters, summed over the passes
};

// The device side of a call, in slots 0..5 of the thread's resources: the buffers of a pass of
// plan.chunk_rows rows, the stats and the scales of all `rows` rows (b.scales points at row 0),
// and the constants uploaded (through pinned slot 3) on `st`.
struct DeviceSide {
  PassBuffers b;
  Constants k;
};

StatusOr<DeviceSide> PrepareDevice(cuda::ThreadResources* res, const RowCodec& c, const CudaPlan& plan,
                                   int64_t rows, uint64_t seed, cudaStream_t st) {
  const size_t pass_weights = static_cast<size_t>(plan.chunk_rows * c.layout.cols);
  const size_t pass_groups = static_cast<size_t>(plan.chunk_rows * plan.groups);
  const ConstantsLayout cl = LayOutConstants(c, plan);
  // x | p | fitted, then codes | stream | constants | stats, then scales.
  QUANTD_ASSIGN_OR_RETURN(void* x, res->Device(0, pass_weights * 4));
  QUANTD_ASSIGN_OR_RETURN(void* p, res->Device(1, pass_weights * 4));
  QUANTD_ASSIGN_OR_RETURN(void* groups, res->Device(2, Align(pass_groups * 8) + Align(pass_groups)));
  QUANTD_ASSIGN_OR_RETURN(void* stream,
                          res->Device(3, static_cast<size_t>(plan.chunk_rows * plan.row_words) * 4));
  QUANTD_ASSIGN_OR_RETURN(void* constants, res->Device(4, cl.bytes));
  QUANTD_ASSIGN_OR_RETURN(void* small, res->Device(5, 16 + static_cast<size_t>(rows) * 4));
  QUANTD_ASSIGN_OR_RETURN(void* host_constants, res->Host(3, cl.bytes));
  FillConstants(c, plan, cl, seed, static_cast<uint8_t*>(host_constants));
  QUANTD_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(constants, host_constants, cl.bytes, cudaMemcpyHostToDevice, st), "pvq constants");
  QUANTD_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(small, 0, 16, st), "pvq stats");
  DeviceSide d;
  d.b.x = static_cast<float*>(x);
  d.b.p = static_cast<int32_t*>(p);
  d.b.fitted = static_cast<double*>(groups);
  d.b.codes = static_cast<uint8_t*>(groups) + Align(pass_groups * 8);
  d.b.stream = static_cast<uint32_t*>(stream);
  d.b.stats = static_cast<unsigned long long*>(small);
  d.b.scales = reinterpret_cast<float*>(static_cast<uint8_t*>(small) + 16);
  d.k = DeviceConstants(c, cl, static_cast<const uint8_t*>(constants));
  return d;
}

unsigned Blocks(int64_t threads, int per_block) {
  return static_cast<unsigned>((threads + per_block - 1) / per_block);
}

// The four stages on `rows` rows (<= plan.chunk_rows) already in b.x, with b.stream zeroed.
// `marks`, when not null, are 5 events recorded before the rotation and after each stage.
Status LaunchStages(const CudaPlan& plan, const RowCodec& c, const Constants& k, int64_t rows,
                    const PassBuffers& b, cudaStream_t st, cudaEvent_t* marks) {
  const PvqLayout& lay = c.layout;
  const int64_t n_groups = rows * plan.groups;
  if (marks) cudaEventRecord(marks[0], st);
  if (plan.rotate_p != 0) {
    RotateKernel<<<static_cast<unsigned>(rows), plan.rotate_threads, plan.rotate_smem, st>>>(
        b.x, static_cast<int>(lay.cols), plan.rotate_p, k.signs, k.second_signs, plan.rotate_scale);
  }
  if (marks) cudaEventRecord(marks[1], st);
  const unsigned group_blocks = Blocks(n_groups, kCudaGroupThreads);
  switch (plan.search_cap) {
#define QUANTD_PVQ_SEARCH(CAP)                                                                              \
  case CAP:                                                                                                 \
    SearchKernel<CAP>                                                                                       \
        <<<group_blocks, kCudaGroupThreads, 0, st>>>(b.x, lay, c.search, n_groups, b.p, b.fitted, b.stats); \
    break;
    QUANTD_PVQ_SEARCH(32)
    QUANTD_PVQ_SEARCH(64)
    QUANTD_PVQ_SEARCH(128)
    QUANTD_PVQ_SEARCH(256)
#undef QUANTD_PVQ_SEARCH
    default:
      return InternalError("pvq on CUDA: no search kernel for capacity " + std::to_string(plan.search_cap));
  }
  if (marks) cudaEventRecord(marks[2], st);
  FitKernel<<<Blocks(rows, kCudaGroupThreads), kCudaGroupThreads, 0, st>>>(
      b.fitted, lay, k.levels, k.n_levels, k.tail_levels, k.n_tail, c.scale_dtype, rows, b.codes, b.scales);
  if (marks) cudaEventRecord(marks[3], st);
  pvq_internal::DispatchWords(k.counts.words, [&](auto wc) {
    constexpr int W = decltype(wc)::value;
    PackKernel<W><<<group_blocks, kCudaGroupThreads, 0, st>>>(k.counts, lay, b.p, b.codes, n_groups, b.stream,
                                                              plan.row_words);
  });
  if (marks) cudaEventRecord(marks[4], st);
  QUANTD_CUDA_RETURN_IF_ERROR(cudaGetLastError(), "pvq kernel launch");
  return OkStatus();
}

// The checks and tables every entry point starts with: the same validation as the CPU encoder,
// UNIMPLEMENTED for what stays on the CPU, the plan for device 0.
struct Prepared {
  PvqOptions o;
  RowCodec c;
  CudaPlan plan;
};

StatusOr<Prepared> Prepare(const Chunk& in, const Params& resolved, int64_t chunk_weights) {
  Prepared r;
  QUANTD_ASSIGN_OR_RETURN(r.o, pvq_internal::ResolvedOptions(resolved));
  QUANTD_ASSIGN_OR_RETURN(r.c, pvq_internal::MakeRowCodec(r.o, in.cols));
  QUANTD_RETURN_IF_ERROR(pvq_internal::CheckEncodeInput(r.o, in));
  if (r.o.hessian) {
    return UnimplementedError("pvq on CUDA: use_hessian=true (the GPTQ-style sweep) runs on the CPU only");
  }
  int smem = 0;
  QUANTD_CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0),
                              "cudaDeviceGetAttribute");
  QUANTD_ASSIGN_OR_RETURN(r.plan,
                          pvq_internal::PlanCudaEncode(r.c.layout, in.rows, r.o.rotate, smem, chunk_weights));
  if (r.plan.rotate_smem > 48 * 1024) {
    // The attribute is the kernel's, process-wide: every caller sets the device maximum, so that a
    // concurrent call never lowers it below what another one launches with.
    QUANTD_CUDA_RETURN_IF_ERROR(
        cudaFuncSetAttribute(RotateKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem),
        "cudaFuncSetAttribute");
  }
  return r;
}

}  // namespace

StatusOr<Encoding> Encode(const Chunk& in, const Params& resolved) {
  QUANTD_ASSIGN_OR_RETURN(cuda::ThreadResources * res, cuda::ThreadResources::Get());
  QUANTD_ASSIGN_OR_RETURN(Prepared prep, Prepare(in, resolved, pvq_internal::kCudaChunkWeights));
  const PvqOptions& o = prep.o;
  const RowCodec& c = prep.c;
  const CudaPlan& plan = prep.plan;
  const int64_t rows = in.rows, cols = in.cols, row_bytes = c.layout.row_bytes;
  const size_t stage_bytes = static_cast<size_t>(plan.chunk_rows * cols) * 4;
  const size_t small_bytes = 16 + static_cast<size_t>(rows) * 4;  // stats, then the row scales
  cudaStream_t st = res->stream();
  cuda::Events events;
  events.DrainOnExit(st);  // from here on, copies may be in flight
  QUANTD_ASSIGN_OR_RETURN(DeviceSide d, PrepareDevice(res, c, plan, rows, static_cast<uint64_t>(o.seed), st));
  // Pinned host: two staging buffers for the rows | the code streams | (3: constants) | stats + scales.
  void* stage[2];
  QUANTD_ASSIGN_OR_RETURN(stage[0], res->Host(0, stage_bytes));
  if (plan.chunks() > 1) {
    QUANTD_ASSIGN_OR_RETURN(stage[1], res->Host(1, stage_bytes));
  } else {
    stage[1] = stage[0];
  }
  QUANTD_ASSIGN_OR_RETURN(void* h_codes, res->Host(2, static_cast<size_t>(rows * row_bytes)));
  QUANTD_ASSIGN_OR_RETURN(void* h_small, res->Host(4, small_bytes));
  cudaEvent_t staged[2];
  QUANTD_ASSIGN_OR_RETURN(staged[0], events.Make(cudaEventDisableTiming));
  QUANTD_ASSIGN_OR_RETURN(staged[1], events.Make(cudaEventDisableTiming));

  uint8_t* codes_out = static_cast<uint8_t*>(h_codes);
  float* const all_scales = d.b.scales;
  PassBuffers b = d.b;
  for (int64_t pass = 0; pass < plan.chunks(); ++pass) {
    const int64_t r0 = pass * plan.chunk_rows, n = std::min(plan.chunk_rows, rows - r0);
    const size_t bytes = static_cast<size_t>(n * cols) * 4;
    const int s = static_cast<int>(pass & 1);
    // The staging buffer's previous upload (two passes ago) must be done before it is rewritten;
    // meanwhile the GPU works on the previous pass.
    if (pass >= 2) QUANTD_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(staged[s]), "pvq staging");
    cuda::ParallelCopy(stage[s], in.data.data() + r0 * cols, bytes);
    QUANTD_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(b.x, stage[s], bytes, cudaMemcpyHostToDevice, st),
                                "pvq upload");
    QUANTD_CUDA_RETURN_IF_ERROR(cudaEventRecord(staged[s], st), "pvq staging event");
    QUANTD_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(b.stream, 0, static_cast<size_t>(n * plan.row_words) * 4, st),
                                "pvq stream");
    b.scales = all_scales + r0;
    QUANTD_RETURN_IF_ERROR(LaunchStages(plan, c, d.k, n, b, st, nullptr));
    // Drop each row's padding words: rows of row_bytes, back to back.
    QUANTD_CUDA_RETURN_IF_ERROR(
        cudaMemcpy2DAsync(codes_out + r0 * row_bytes, static_cast<size_t>(row_bytes), b.stream,
                          static_cast<size_t>(plan.row_words) * 4, static_cast<size_t>(row_bytes),
                          static_cast<size_t>(n), cudaMemcpyDeviceToHost, st),
        "pvq download");
  }
  QUANTD_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(h_small, d.b.stats, small_bytes, cudaMemcpyDeviceToHost, st),
                              "pvq download");
  QUANTD_RETURN_IF_ERROR(res->Sync("pvq on CUDA"));
  events.Done();

  Encoding enc;
  enc.sections.push_back(Section::Zeros("scales", o.scale_dtype, {rows, 1}));
  enc.sections.push_back(Section::Zeros("codes", DType::kU8, {rows, row_bytes}));
  unsigned long long stats[2];
  memcpy(stats, h_small, 16);
  const float* scales = reinterpret_cast<const float*>(static_cast<const uint8_t*>(h_small) + 16);
  QUANTD_RETURN_IF_ERROR(
      pvq_internal::StoreRowScales(std::span<const float>(scales, static_cast<size_t>(rows)), in.row_begin,
                                   o.scale_dtype, enc.sections[0].data.data()));
  cuda::ParallelCopy(enc.sections[1].data.data(), codes_out, static_cast<size_t>(rows * row_bytes));
  pvq_internal::RowStats total;
  total.hull_evals = static_cast<int64_t>(stats[0]);
  total.improved_groups = static_cast<int64_t>(stats[1]);
  pvq_internal::SetStats(o, total, enc);
  return enc;
}

StatusOr<StageTimes> TimeStages(const Chunk& in, const Params& resolved, int reps) {
  QUANTD_ASSIGN_OR_RETURN(cuda::ThreadResources * res, cuda::ThreadResources::Get());
  QUANTD_ASSIGN_OR_RETURN(Prepared prep, Prepare(in, resolved, in.rows * in.cols));  // one pass
  const RowCodec& c = prep.c;
  const CudaPlan& plan = prep.plan;
  cudaStream_t st = res->stream();
  cuda::Events events;
  events.DrainOnExit(st);
  QUANTD_ASSIGN_OR_RETURN(DeviceSide d,
                          PrepareDevice(res, c, plan, in.rows, static_cast<uint64_t>(prep.o.seed), st));
  cudaEvent_t marks[5];
  for (cudaEvent_t& e : marks) {
    QUANTD_ASSIGN_OR_RETURN(e, events.Make(cudaEventDefault));
  }
  StageTimes t;
  for (int rep = 0; rep <= reps; ++rep) {  // rep 0 warms up
    // Fresh rows every run (the rotation works in place).
    QUANTD_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(d.b.x, in.data.data(), in.data.size() * 4, cudaMemcpyHostToDevice, st), "pvq upload");
    QUANTD_CUDA_RETURN_IF_ERROR(
        cudaMemsetAsync(d.b.stream, 0, static_cast<size_t>(in.rows * plan.row_words) * 4, st), "pvq stream");
    QUANTD_RETURN_IF_ERROR(LaunchStages(plan, c, d.k, in.rows, d.b, st, marks));
    QUANTD_RETURN_IF_ERROR(res->Sync("pvq stages on CUDA"));
    if (rep == 0) continue;
    float ms[4];
    for (int i = 0; i < 4; ++i) cudaEventElapsedTime(&ms[i], marks[i], marks[i + 1]);
    t.rotate_ms += ms[0] / reps;
    t.search_ms += ms[1] / reps;
    t.fit_ms += ms[2] / reps;
    t.pack_ms += ms[3] / reps;
  }
  events.Done();
  return t;
}

}  // namespace quantd::pvq_cuda
