#include "kashin/kashin_kernels.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "kashin/kashin.h"
#include "quantd/core/hadamard.h"

namespace quantd::kashin_internal {

HadamardTables MakeHadamardTables(int64_t n, uint64_t seed) {
  const RandomizedHadamard h(n, seed);
  HadamardTables t;
  t.n = static_cast<int>(n);
  t.p = 1;
  while (int64_t{t.p} * 2 <= n) t.p *= 2;
  t.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(t.p)));  // as hadamard.cc
  t.signs.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) t.signs[static_cast<size_t>(i)] = h.sign(i);
  if (t.p != n) {
    t.second_signs.resize(static_cast<size_t>(t.p));
    for (int64_t i = 0; i < t.p; ++i) t.second_signs[static_cast<size_t>(i)] = h.second_sign(i);
  }
  return t;
}

StatusOr<KashinCudaPlan> PlanKashinCuda(const KashinOptions& o, int64_t cols, int64_t max_smem_per_block) {
  if (o.mode != KashinMode::kRows) {
    return UnimplementedError("kashin on CUDA: mode=matrix (one vector of the whole tensor) runs on the CPU only");
  }
  if (o.transform != TransformKind::kHadamard) {
    return UnimplementedError("kashin on CUDA: transform=" + std::string(TransformName(o.transform)) +
                              " runs on the CPU only (the GPU has the Hadamard transform)");
  }
  KashinCudaPlan plan;
  plan.len = o.BlockLength(cols);
  plan.last = cols - (o.BlocksPerRow(cols) - 1) * plan.len;
  if (plan.len > kGreedyChunk * 64) {  // far beyond any shared memory; keeps the int arithmetic safe
    return UnimplementedError("kashin on CUDA: vectors of " + std::to_string(plan.len) + " weights are too long");
  }
  plan.scratch = LayOutScratch(static_cast<int>(plan.len));
  if (static_cast<int64_t>(plan.scratch.bytes) > max_smem_per_block) {
    return UnimplementedError("kashin on CUDA: vectors of " + std::to_string(plan.len) + " weights need " +
                              std::to_string(plan.scratch.bytes) + " bytes of shared memory, more than the " +
                              std::to_string(max_smem_per_block) +
                              " of a thread block (a smaller block_length fits)");
  }
  // One thread per (run, lane) item of the norm passes, in whole warps, 64..256 per block.
  const int64_t items = int64_t{GreedyRuns(static_cast<int>(plan.len))} * kGreedyLanes;
  plan.threads = static_cast<int>(std::clamp<int64_t>((items + 31) / 32 * 32, 64, 256));
  return plan;
}

}  // namespace quantd::kashin_internal
