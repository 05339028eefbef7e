// File: crossquant_cuda.h
//
// CrossQuant on a CUDA GPU, bit-identical to the CPU. The GPU finds the row and column maxima
// (exact: max is order-free); the CPU turns them into the per-row and per-column factors S_i and
// V_j with the host's pow in double (so no device pow has to match glibc's); the GPU then forms
// each step D_ij = S_i * V_j in binary32, divides in double (IEEE, correctly rounded) and rounds
// half to even, exactly as the reference does, counts the kernel, and packs the codes.
#ifndef QUANTD_CORE_CROSSQUANT_CROSSQUANT_CUDA_H_
#define QUANTD_CORE_CROSSQUANT_CROSSQUANT_CUDA_H_

#include "quantd/core/chunk.h"
#include "quantd/core/encoding.h"

namespace quantd::crossquant_cuda {

StatusOr<Encoding> Encode(const Chunk& input, const Params& resolved);

// Benchmarks: the device passes alone on device-resident data (maxima, quantize, pack), with the
// factors `s`, `v`, `per_token` already on the device, and `inv` their binary32 inverses in the
// same order (or null: exact double quotients). `t_c` holds rows + cols floats,
// `code_bytes` rows*cols bytes, `codes` the packed output, `counts` 4 uint64. `stream` is a
// cudaStream_t.
Status LaunchDevicePasses(const float* x, int64_t rows, int64_t cols, int bits, const float* s,
                          const float* v, const float* per_token, const float* inv, float* t_c,
                          uint8_t* code_bytes, uint8_t* codes, void* counts, void* stream);

}  // namespace quantd::crossquant_cuda

#endif  // QUANTD_CORE_CROSSQUANT_CROSSQUANT_CUDA_H_
