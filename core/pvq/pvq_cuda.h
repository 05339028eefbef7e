// File: pvq_cuda.h
//
// PVQ on a CUDA GPU: rotation, pyramid search, gain fit, Fischer enumeration and bit packing all
// run on the device (pvq_kernels.h describes the kernels); the host stages the rows in pinned
// memory, stores the row scales in their dtype and copies the code streams out. The encoding is
// bit-identical to the CPU's (Method::Encode), stats included: the kernels run the CPU path's
// own source for the search and the gain fit, with IEEE double arithmetic in the same order.
//
// Not covered (UNIMPLEMENTED, so that EncodeRows under Device::kAuto falls back to the CPU):
// use_hessian=true (the GPTQ-style sweep is sequential over a row's groups and needs the n x n
// factor: it stays on the CPU), and with rotation=hadamard rows longer than a thread block's
// shared memory holds (the device's opt-in maximum over 4 bytes: 58112 weights on an H100).
//
// Blocks go through the GPU in passes of about kCudaChunkWeights weights; while the GPU works on
// one pass the host stages the next, and device memory stays bounded (about 9 bytes per weight
// of a pass, plus the constants and 4 bytes per row).
#ifndef QUANTD_CORE_PVQ_PVQ_CUDA_H_
#define QUANTD_CORE_PVQ_PVQ_CUDA_H_

#include "quantd/core/chunk.h"
#include "quantd/core/encoding.h"
#include "quantd/core/params.h"

namespace quantd::pvq_cuda {

// The method's CUDA encoder (Method::cuda_encoder).
StatusOr<Encoding> Encode(const Chunk& input, const Params& resolved);

// Benchmarks: the device time of each kernel stage for the whole block in one pass, on data
// already in device memory, averaged over `reps` runs (milliseconds).
struct StageTimes {
  double rotate_ms = 0;
  double search_ms = 0;
  double fit_ms = 0;   // row scales and gain codes
  double pack_ms = 0;  // enumeration and bit packing
};
StatusOr<StageTimes> TimeStages(const Chunk& input, const Params& resolved, int reps);

}  // namespace quantd::pvq_cuda

#endif  // QUANTD_CORE_PVQ_PVQ_CUDA_H_
