// File: kashin_cuda.h
//
// Kashin quantization on a CUDA GPU, rows mode with the hadamard, dct or dct_signed transform: the
// greedy decompositions and step 4 of the k-means (every point's nearest centroid and the
// per-centroid sums) run on the device (kashin_kernels.h describes the kernels); the host
// computes the scales and normalised rows (NormaliseRows), fits the codebook on the gathered
// sample (FitSample: at most 16384 points, a fixed cost per slice) and assembles the sections.
// The encoding is bit-identical to the CPU's (Method::Encode), stats included: the kernels run
// greedy.cc's and kmeans.cc's arithmetic in their order, in IEEE arithmetic without FMA.
//
// Not covered (UNIMPLEMENTED, so that EncodeRows under Device::kAuto falls back to the CPU):
// mode=matrix (one vector of the whole tensor), the dense qr transform, and vectors whose work
// space exceeds a thread block's shared memory (about 4.5 bytes per weight with hadamard, 16 with
// a DCT of an even length, more where the DCT needs Bluestein's algorithm: 51 000 and 14 000
// weights on an H100; a smaller block_length fits). When some rows did not converge and are
// kept unquantized, the (u, v) factors come back to the host and the CPU clusters the others.
//
// A slice stays on the device whole (step_choice=slice couples its vectors at every shared
// step): about 21 bytes of device memory per weight; a slice that does not fit is
// RESOURCE_EXHAUSTED, which kAuto turns into a CPU encode.
#ifndef QUANTD_CORE_KASHIN_KASHIN_CUDA_H_
#define QUANTD_CORE_KASHIN_KASHIN_CUDA_H_

#include "quantd/core/chunk.h"
#include "quantd/core/encoding.h"
#include "quantd/core/params.h"

namespace quantd::kashin_cuda {

// The method's CUDA encoder (Method::cuda_encoder).
StatusOr<Encoding> Encode(const Chunk& input, const Params& resolved);

// Benchmarks: where the time of one encode goes (milliseconds of wall time; the device stages
// measured with events).
struct StageTimes {
  double prepare_ms = 0;   // host: scales and normalised rows
  double upload_ms = 0;    // staging and copy to the device
  double greedy_ms = 0;    // device: the decompositions
  double fit_ms = 0;       // sample gathered and copied back, codebook fitted on the host
  double assign_ms = 0;    // device: all points' labels, sums, packing
  double download_ms = 0;  // codes back, sections assembled
};
StatusOr<Encoding> EncodeTimed(const Chunk& input, const Params& resolved, StageTimes* times);

}  // namespace quantd::kashin_cuda

#endif  // QUANTD_CORE_KASHIN_KASHIN_CUDA_H_
