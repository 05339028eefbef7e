// File: pack_kernels.cuh
//
// Device kernels shared by methods: packing one code per byte into the row-wise bit streams of
// bitpack.h, one output byte per thread (rtn_pack.h's PackedByte, the CPU twin tested against
// PackBits). A template so that every .cu including it gets its own instance.
#ifndef QUANTD_CORE_CUDA_PACK_KERNELS_CUH_
#define QUANTD_CORE_CUDA_PACK_KERNELS_CUH_

#include <cstdint>

#include "core/rtn/rtn_pack.h"

namespace quantd::cuda {

// codes: rows x row_bytes packed; code_bytes: rows x cols, one code per byte.
template <int kUnused = 0>
__global__ void PackRowBytes(const uint8_t* code_bytes, int64_t rows, int64_t cols, int bits, uint8_t* codes,
                             int64_t row_bytes) {
  const int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= rows * row_bytes) return;
  const int64_t r = t / row_bytes, k = t % row_bytes;
  codes[t] = rtn_internal::PackedByte(code_bytes + r * cols, cols, bits, k);
}

}  // namespace quantd::cuda

#endif  // QUANTD_CORE_CUDA_PACK_KERNELS_CUH_
