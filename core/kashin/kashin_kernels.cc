#include "core/kashin/kashin_kernels.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/common/hadamard.h"
#include "core/common/seed.h"
#include "core/kashin/kashin.h"

namespace quantd::kashin_internal {

StatusOr<TransformTables> MakeTransformTables(TransformKind kind, int64_t n, uint64_t seed) {
  TransformTables t;
  t.n = static_cast<int>(n);
  switch (kind) {
    case TransformKind::kHadamard: {
      const RandomizedHadamard h(n, seed);
      t.kind = kBlockHadamard;
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
    case TransformKind::kDct:
    case TransformKind::kDctSigned: {
      t.kind = kind == TransformKind::kDct ? kBlockDct : kBlockDctSigned;
      DctPlan<float>(n).Export(&t.dct_data, &t.dct);
      if (kind == TransformKind::kDctSigned) {  // as transform.cc's DctTransform
        t.signs.resize(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i)
          t.signs[static_cast<size_t>(i)] = SeededSign(seed, kStreamDctSigns, static_cast<uint64_t>(i));
      }
      return t;
    }
    case TransformKind::kQr:
      break;
  }
  return UnimplementedError("kashin on CUDA: transform=" + std::string(TransformName(kind)) +
                            " (a dense matrix per vector) runs on the CPU only");
}

StatusOr<KashinCudaPlan> PlanKashinCuda(const KashinOptions& o, int64_t cols, int64_t max_smem_per_block) {
  if (o.mode != KashinMode::kRows) {
    return UnimplementedError(
        "kashin on CUDA: mode=matrix (one vector of the whole tensor) runs on the CPU only");
  }
  KashinCudaPlan plan;
  plan.len = o.BlockLength(cols);
  plan.last = o.LastBlockLength(cols);
  // Far beyond any shared memory; keeps the int arithmetic of the kernels and tables safe.
  if (plan.len > kGreedyChunk * 64) {
    return UnimplementedError("kashin on CUDA: vectors of " + std::to_string(plan.len) +
                              " weights are too long");
  }
  QUANTD_ASSIGN_OR_RETURN(plan.full, MakeTransformTables(o.transform, plan.len, o.seed));
  if (plan.last != plan.len) {
    QUANTD_ASSIGN_OR_RETURN(plan.last_q, MakeTransformTables(o.transform, plan.last, o.seed));
  } else {
    plan.last_q = plan.full;
  }
  plan.scratch =
      LayOutScratch(static_cast<int>(plan.len), std::max(plan.full.WorkFloats(), plan.last_q.WorkFloats()));
  if (static_cast<int64_t>(plan.scratch.bytes) > max_smem_per_block) {
    return UnimplementedError("kashin on CUDA: vectors of " + std::to_string(plan.len) +
                              " weights with transform=" + std::string(TransformName(o.transform)) +
                              " need " + std::to_string(plan.scratch.bytes) +
                              " bytes of shared memory, more than the " + std::to_string(max_smem_per_block) +
                              " of a thread block (a smaller block_length fits)");
  }
  // One thread per (run, lane) item of the norm passes, in whole warps, 64..256 per block.
  const int64_t items = int64_t{GreedyRuns(static_cast<int>(plan.len))} * kGreedyLanes;
  plan.threads = static_cast<int>(std::clamp<int64_t>((items + 31) / 32 * 32, 64, 256));
  return plan;
}

}  // namespace quantd::kashin_internal
