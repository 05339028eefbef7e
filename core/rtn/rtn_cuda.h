// File: rtn_cuda.h
//
// RTN on a CUDA GPU. The encoding is bit-identical to the CPU's: the same group maximum (the
// first element of largest magnitude), the same IEEE division and round-half-even, and the same
// F16 rounding of scales (dtype.h's conversion runs on the device too).
//
// Kernels: when group_size is a multiple of 8, one warp per group finds the maximum and each
// lane quantizes 8 consecutive weights straight into their `bits` packed bytes (one pass over the
// input). Otherwise codes go to a byte buffer and a second kernel packs each output byte
// (rtn_pack.h).
#ifndef QUANTD_CORE_RTN_RTN_CUDA_H_
#define QUANTD_CORE_RTN_RTN_CUDA_H_

#include <cstdint>

#include "core/rtn/rtn.h"
#include "quantd/core/chunk.h"
#include "quantd/core/encoding.h"

namespace quantd::rtn_cuda {

// The method's CUDA encoder (Method::cuda_encoder): host rows in, Encoding out.
StatusOr<Encoding> Encode(const Chunk& input, const Params& resolved);

// Device-resident encode for benchmarks: `x` rows*cols floats, `codes` rows*row_bytes,
// `scales` rows*groups*scale size, `scratch` rows*cols bytes (used only when group_size % 8 != 0),
// `flag` one int set to 1 when a scale overflows. All device pointers; `stream` a cudaStream_t.
Status LaunchEncode(const float* x, int64_t rows, int64_t cols, const RtnOptions& o, uint8_t* codes,
                    uint8_t* scales, uint8_t* scratch, int* flag, void* stream);

}  // namespace quantd::rtn_cuda

#endif  // QUANTD_CORE_RTN_RTN_CUDA_H_
