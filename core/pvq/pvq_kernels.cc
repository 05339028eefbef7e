// The CUDA encoder's launch plan (pvq_kernels.h): host arithmetic only, so that it is built and
// tested with or without CUDA.
#include "core/pvq/pvq_kernels.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <string>

namespace quantd::pvq_internal {

StatusOr<CudaPlan> PlanCudaEncode(const PvqLayout& lay, int64_t rows, bool rotate, int64_t max_smem_per_block,
                                  int64_t chunk_weights) {
  CudaPlan plan;
  plan.rows = rows;
  plan.groups = lay.groups();
  plan.row_words = (lay.row_bytes + 3) / 4;
  plan.chunk_rows = std::clamp<int64_t>(chunk_weights / lay.cols, 1, rows);
  if (rotate) {
    int64_t p = 1;
    while (p * 2 <= lay.cols) p *= 2;
    const int64_t smem = lay.cols * static_cast<int64_t>(sizeof(float));
    if (smem > max_smem_per_block) {
      return UnimplementedError("pvq on CUDA: rows of " + std::to_string(lay.cols) + " weights need " +
                                std::to_string(smem) +
                                " bytes of shared memory for the rotation, more than the " +
                                std::to_string(max_smem_per_block) + " of a thread block");
    }
    plan.rotate_p = static_cast<int>(p);
    plan.rotate_smem = static_cast<size_t>(smem);
    // One thread per butterfly of a stage, in whole warps, at most 1024 per block.
    plan.rotate_threads = static_cast<int>(std::clamp<int64_t>((p / 2 + 31) / 32 * 32, 32, 1024));
    plan.rotate_scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(p)));  // as hadamard.cc
  }
  plan.search_cap = lay.group_size <= 32 ? 32 : lay.group_size <= 64 ? 64 : lay.group_size <= 128 ? 128 : 256;
  const int64_t group_blocks = (plan.chunk_rows * plan.groups + kCudaGroupThreads - 1) / kCudaGroupThreads;
  if (group_blocks > INT_MAX || plan.chunk_rows > INT_MAX) {
    return UnimplementedError("pvq on CUDA: " + std::to_string(plan.chunk_rows * plan.groups) +
                              " groups per pass exceed the launch limits");
  }
  return plan;
}

}  // namespace quantd::pvq_internal
