// File: cuda_encoders.h
//
// The CUDA encoders of the methods that have one. EncodeRows (quantize.h) asks here when a
// block should run on the GPU. A CUDA encoder returns exactly what the method's CPU Encode
// returns (bit for bit where the method says so), or UNIMPLEMENTED for parameters it does not
// cover, RESOURCE_EXHAUSTED when the GPU is out of memory and UNAVAILABLE when the device fails;
// under Device::kAuto those fall back to the CPU.
#ifndef QUANTD_CORE_CUDA_CUDA_ENCODERS_H_
#define QUANTD_CORE_CUDA_CUDA_ENCODERS_H_

#include <string_view>

#include "quantd/core/encoding.h"
#include "quantd/core/params.h"
#include "quantd/core/tensor.h"

namespace quantd::cuda {

using EncodeFn = StatusOr<Encoding> (*)(const RowBlock& input, const Params& resolved);

// The CUDA encoder of `method`, or null (built without CUDA, or the method has none).
EncodeFn FindEncoder(std::string_view method);

}  // namespace quantd::cuda

#endif  // QUANTD_CORE_CUDA_CUDA_ENCODERS_H_
